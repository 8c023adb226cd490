// `train()` end to end on CPU: a random tiny Qwen3 with the real Qwen3 tokenizer on real
// DAPO-Math-17k prompts (rewards are all -1, so dynamic sampling filters everything and the loop
// must still run and log), exact resume, SIGINT-style abort, refusal to overwrite a run, and
// rollouts that never sample the padded rows of the embedding.
import { describe, expect, it } from 'vitest';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { Policy } from '../src/policy.js';
import { nativeEngines } from '../src/rl/adapters.js';
import { train, type EngineFactory } from '../src/rl/loop.js';
import { rolloutEngine } from '../src/rollout/engine.js';
import { Tokenizer } from '../src/tokenizer/index.js';
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

  it("never samples an id past the tokenizer's vocabulary when the embedding is padded", async () => {
    // tiny's embedding (tied to the head) has 151936 rows, the Qwen3 tokenizer fewer ids: the rows
    // past it are padding. Scaled up 50x, those rows' logits (std ~8 instead of ~0.16) take nearly
    // all the probability, so a rollout that sampled the whole row would draw them at once.
    const dir = join(scratch, 'padded-model');
    cpSync(modelDir, dir, { recursive: true });
    const vocab = (await Tokenizer.fromDir(dir)).vocabSize;
    const file = join(dir, 'model.safetensors');
    const e = (await parseSafetensorsHeader(file)).tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    expect(e.dtype).toBe('F32');
    const [rows, hidden] = e.shape;
    expect(rows).toBeGreaterThan(vocab);
    const buf = readFileSync(file);
    for (let o = e.offset + vocab * hidden * 4; o < e.offset + rows * hidden * 4; o += 4)
      buf.writeFloatLE(50 * buf.readFloatLE(o), o);
    writeFileSync(file, buf);

    // The check can fail: without the tokenizer's size the engine does draw padded ids.
    const policy = await Policy.load(dir, { device: 'cpu', dtype: 'float32' });
    try {
      const unbounded = await rolloutEngine(policy).generate([Int32Array.from([9707, 11, 1879])], {
        n: 4,
        maxNewTokens: 8,
        temperature: 1,
        topP: 1,
        topK: 0,
        minP: 0,
        stopTokenIds: [],
        seed: 1,
      });
      expect(Math.max(...unbounded.flat().flatMap((r) => Array.from(r.tokens)))).toBeGreaterThanOrEqual(vocab);
    } finally {
      policy.dispose();
    }

    // The RL loop's rollouts (every response of every group, through the real engine) stay below it.
    const drawn: number[] = [];
    const engines: EngineFactory = (p, reference, r) => {
      const e = nativeEngines(p, reference, r);
      const generate = e.rollout.generate;
      e.rollout.generate = async (...args) => {
        const out = await generate(...args);
        drawn.push(...out.flat().flatMap((x) => Array.from(x.tokens)));
        return out;
      };
      return e;
    };
    const rc = tinyRecipe(dir, join(scratch, 'padded'), ['rollout.max_new_tokens=8', 'train.steps=1']);
    await train(rc, { engines, log });
    expect(drawn.length).toBeGreaterThanOrEqual(rc.train.prompts_per_step * rc.rollout.samples_per_prompt);
    expect(drawn.filter((id) => id >= vocab)).toEqual([]);
  });
});
