// rollout.max_staleness (src/rl/rollout-source.ts) end to end on CPU with the random tiny Qwen3:
// the deterministic schedule (the batch of step k comes from version max(0, k - 1 - s), recorded in
// samples.jsonl and the staleness metrics), that stale batches really are off-policy (the trainer's
// proximal log-probs differ from the sampler's, the truncated IS weights differ from 1), and that a
// checkpoint records the batches generated ahead so a resume equals the uninterrupted run bitwise.
// Rewards carry signal (the length grader), so every update moves the weights.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeEngines } from '../src/rl/adapters.js';
import { train } from '../src/rl/loop.js';
import {
  readRolloutQueue,
  ROLLOUT_QUEUE_FILE,
  serializeRolloutQueue,
  type RolloutBatch,
} from '../src/rl/rollout-source.js';
import { repoRoot } from './helpers/paths.js';
import { tinyModelScratch, tinyRecipe } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-staleness-', 13);
const grader = `reward.grader={module: ${join(repoRoot, 'test', 'fixtures', 'grader', 'plain-grader.mjs')}}`;

function recipe(run: string, extra: string[] = []) {
  return tinyRecipe(modelDir, join(scratch, run), [
    grader,
    'checkpoint.every_steps=1',
    'checkpoint.keep_last=10',
    'rollout.max_new_tokens=6',
    'run.log_samples_per_step=2',
    ...extra,
  ]);
}
const jsonl = (run: string, file: string) =>
  readFileSync(join(scratch, run, file), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const trainRows = (run: string) => jsonl(run, 'metrics.jsonl').filter((r) => r.kind === 'train');
const ckpt = (run: string, step: number) => join(scratch, run, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
const weights = (run: string, step: number) => readFileSync(join(ckpt(run, step), 'policy', 'model.safetensors'));
const log = () => {};
const samples = (run: string) => jsonl(run, 'samples.jsonl');

describe('rollout.max_staleness', () => {
  it('s = 2: step k trains on the batch of version max(0, k - 3); policy versions and staleness are recorded', async () => {
    await train(recipe('s2', ['rollout.max_staleness=2', 'train.steps=5']), { engines: nativeEngines, log });
    const version = (k: number) => Math.max(0, k - 3);
    const rows = trainRows('s2');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    rows.forEach((r) => {
      const k = r.step as number;
      expect(r['rollout/staleness/mean']).toBe(k - 1 - version(k));
      expect(r['rollout/staleness/max']).toBe(k - 1 - version(k));
    });
    const s = samples('s2');
    expect(s.map((x) => [x.step, x.policy_version])).toEqual(
      [1, 1, 2, 2, 3, 3, 4, 4, 5, 5].map((k) => [k, version(k)]),
    );
    // The checkpoint after step 2 holds the batches of steps 3 and 4 (versions 0 and 1).
    const q = readRolloutQueue(ckpt('s2', 2), 2);
    expect(q.map((b) => [b.step, b.policyVersion])).toEqual([
      [3, 0],
      [4, 1],
    ]);
    expect(q[0]!.samples[0]!.responseTokens).toBeInstanceOf(Int32Array);
    expect(q[0]!.samples[0]!.samplerLogprobs).toBeInstanceOf(Float32Array);
    // The last checkpoint has nothing ahead (no step after 5).
    expect(existsSync(join(ckpt('s2', 5), ROLLOUT_QUEUE_FILE))).toBe(false);
  });

  it("the prompts and sampling seeds are the on-policy run's; the responses of a stale batch come from older weights", async () => {
    await train(recipe('s0', ['train.steps=3']), { engines: nativeEngines, log });
    await train(recipe('s1', ['rollout.max_staleness=1', 'train.steps=3', 'algorithm.loss.rollout_is_threshold=2']), {
      engines: nativeEngines,
      log,
    });
    const a = samples('s0');
    const b = samples('s1');
    expect(b.map((x) => x.id)).toEqual(a.map((x) => x.id));
    expect(b.map((x) => x.policy_version)).toEqual([0, 0, 0, 0, 1, 1]);
    expect(a.map((x) => x.policy_version)).toEqual([0, 0, 1, 1, 2, 2]);
    // Step 1 of both runs samples from the initial weights with the same seed: the same responses.
    expect(b.slice(0, 2)).toEqual(a.slice(0, 2));
    const r0 = trainRows('s0');
    const r1 = trainRows('s1');
    // On-policy the sampler and the trainer agree (fp32 CPU); a batch one version old does not.
    for (const r of r0) expect(r['training/rollout_logprob_diff_mean']).toBeLessThan(1e-4);
    expect(r1[0]!['training/rollout_logprob_diff_mean']).toBeLessThan(1e-4);
    expect(r1[1]!['training/rollout_logprob_diff_mean']).toBeGreaterThan(1e-3);
    // The truncated importance weights: ~1 on step 1 (no staleness), away from 1 later, never above the cap.
    expect(Math.abs((r1[0]!['rollout_corr/rollout_is_mean'] as number) - 1)).toBeLessThan(1e-4);
    expect(Math.abs((r1[1]!['rollout_corr/rollout_is_mean'] as number) - 1)).toBeGreaterThan(1e-4);
    for (const r of r1) {
      expect(r['rollout_corr/rollout_is_mean']).toBeLessThanOrEqual(2);
      expect(r['rollout_corr/rollout_is_clip_frac']).toBeGreaterThanOrEqual(0);
    }
    // The on-policy run logs neither staleness nor IS metrics (its rows are unchanged).
    expect(r0[0]).not.toHaveProperty('rollout/staleness/mean');
    expect(r0[0]).not.toHaveProperty('rollout_corr/rollout_is_mean');
  });

  it('a resume from a checkpoint with batches in flight equals the uninterrupted run bitwise', async () => {
    const sets = ['rollout.max_staleness=2', 'algorithm.loss.rollout_is_threshold=2'];
    await train(recipe('straight', [...sets, 'train.steps=5']), { engines: nativeEngines, log });
    const ac = new AbortController();
    await train(recipe('cut', [...sets, 'train.steps=5']), {
      engines: nativeEngines,
      log,
      signal: ac.signal,
      onStep: (row) => {
        if (row.step === 2) ac.abort();
      },
    });
    expect(readFileSync(join(scratch, 'cut', 'latest'), 'utf8')).toContain('step-000002');
    expect(readRolloutQueue(ckpt('cut', 2), 2).map((b) => b.step)).toEqual([3, 4]);
    await train(recipe('cut', [...sets, 'train.steps=5']), { engines: nativeEngines, log, resume: true });
    for (const step of [3, 4, 5]) expect(Buffer.compare(weights('straight', step), weights('cut', step))).toBe(0);
    expect(samples('cut')).toEqual(samples('straight'));
    const strip = (r: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('timing_s/')));
    expect(trainRows('cut').map(strip)).toEqual(trainRows('straight').map(strip));
  });
});

describe('the rollout queue file', () => {
  it('round-trips typed arrays exactly and names the file when its steps do not follow the checkpoint', () => {
    const dir = join(scratch, 'queue-unit');
    mkdirSync(dir, { recursive: true });
    const lp = Float32Array.from([-0.1, -1e-7, -23.456789, Math.fround(Math.PI)]);
    const batch = {
      step: 4,
      policyVersion: 1,
      samples: [
        {
          group: 0,
          promptTokens: Int32Array.from([1, 2]),
          responseTokens: Int32Array.from([3, 4, 5, 6]),
          samplerLogprobs: lp,
          advantage: -0.7071067811865476,
          policyVersion: 1,
        },
      ],
    } as unknown as RolloutBatch;
    writeFileSync(join(dir, ROLLOUT_QUEUE_FILE), serializeRolloutQueue([batch]));
    const [b] = readRolloutQueue(dir, 3);
    expect(b!.samples[0]!.samplerLogprobs).toEqual(lp);
    expect(b!.samples[0]!.responseTokens).toEqual(Int32Array.from([3, 4, 5, 6]));
    expect(b!.samples[0]!.advantage).toBe(-0.7071067811865476);
    expect(() => readRolloutQueue(dir, 2)).toThrow(
      `${join(dir, ROLLOUT_QUEUE_FILE)}: batch 0 is for step 4, expected step 3`,
    );
    writeFileSync(join(dir, ROLLOUT_QUEUE_FILE), '{"batches": [');
    expect(() => readRolloutQueue(dir, 3)).toThrow(/unreadable rollout queue/);
    expect(readRolloutQueue(join(scratch, 'no-such-checkpoint'), 3)).toEqual([]);
  });
});
