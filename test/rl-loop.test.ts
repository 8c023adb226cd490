// `train()` end to end on CPU: a random tiny Qwen3 with the real Qwen3 tokenizer on real
// DAPO-Math-17k prompts (rewards are all -1, so dynamic sampling filters everything and the loop
// must still run and log), exact resume, SIGINT-style abort, and refusal to overwrite a run.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeEngines } from '../src/rl/adapters.js';
import { train } from '../src/rl/loop.js';
import { tinyModelScratch, tinyRecipe } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-loop-', 11);

function recipe(run: string, extra: string[] = []) {
  return tinyRecipe(modelDir, join(scratch, run), [
    'checkpoint.every_steps=1',
    'checkpoint.keep_last=5',
    'rollout.max_new_tokens=8',
    ...extra,
  ]);
}
const metrics = (run: string) =>
  readFileSync(join(scratch, run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const log = () => {};

describe('the RL loop on real DAPO prompts', () => {
  it('runs, grades, filters all-equal groups and logs', async () => {
    const res = await train(recipe('ds', ['algorithm.dynamic_sampling.enabled=true']), { engines: nativeEngines, log });
    expect(res).toMatchObject({ lastStep: 2, interrupted: false });
    const rows = metrics('ds').filter((r) => r.kind === 'train');
    expect(rows.map((r) => r.step)).toEqual([1, 2]);
    for (const r of rows) {
      expect(r['critic/score/mean']).toBe(-1); // dapo grader: a random model is always wrong
      expect(r['batch/prompts']).toBe(2);
      expect(r['batch/kept_groups']).toBe(0); // all-equal groups carry no signal and are dropped
      expect(r['actor/optimizer_steps']).toBe(0);
    }
    const samples = readFileSync(join(scratch, 'ds', 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(samples.length).toBe(4);
    expect(samples[0].id).toMatch(/^dapo-/);
    expect(existsSync(join(scratch, 'ds', 'resolved.yaml'))).toBe(true);
  });

  it('updates the policy when groups are kept (no filtering) and logs the GTR metrics', async () => {
    await train(recipe('upd'), { engines: nativeEngines, log });
    const r = metrics('upd').find((x) => x.step === 2)!;
    expect(r['actor/optimizer_steps']).toBe(4); // 2 epochs x 2 mini-batches
    expect(r['actor/ratio/mean']).toBeGreaterThan(0.9);
    expect(Math.abs(r['training/rollout_logprob_diff_mean'])).toBeLessThan(1e-3); // fp32 CPU: sampler == trainer
    expect(r['actor/penalty/mean']).toBeGreaterThanOrEqual(0);
  });

  it('resumes exactly: 2 steps + resume to 3 equals 3 steps straight', async () => {
    await train(recipe('straight', ['train.steps=3']), { engines: nativeEngines, log });
    await train(recipe('split', ['train.steps=2']), { engines: nativeEngines, log });
    await train(recipe('split', ['train.steps=3']), { engines: nativeEngines, log, resume: true });
    const w = (run: string) =>
      readFileSync(join(scratch, run, 'checkpoints', 'step-000003', 'policy', 'model.safetensors'));
    expect(Buffer.compare(w('straight'), w('split'))).toBe(0);
    expect(metrics('split').map((r) => r.step)).toEqual([1, 2, 3]);
  });

  it('an abort (SIGINT) saves the last completed step and stops', async () => {
    const ac = new AbortController();
    const res = await train(recipe('sigint', ['train.steps=5', 'checkpoint.every_steps=100']), {
      engines: nativeEngines,
      log,
      signal: ac.signal,
      onStep: (row) => {
        if (row.step === 1) ac.abort();
      },
    });
    expect(res).toMatchObject({ lastStep: 1, interrupted: true });
    expect(readFileSync(join(scratch, 'sigint', 'latest'), 'utf8')).toContain('step-000001');
  });

  it('never overwrites a run silently', async () => {
    await expect(train(recipe('ds'), { engines: nativeEngines, log })).rejects.toThrow(/already holds a run.*--resume/);
  });
});
