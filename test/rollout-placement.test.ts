// Rollout workers in processes of their own (rollout.placement: separate; issue 29): the trainer's
// weights go to them over c10d (gloo here) after every step. References are runs computed in the
// same test on the same machine: with max_staleness 0 a separate worker gives the colocated
// on-policy run bitwise (same weights, same sampling streams, same torch thread count); with s = 1
// it gives the in-process pipeline of depth 1 bitwise. A worker killed mid-run stops the run with
// an error naming it, and its last complete checkpoint resumes to the uninterrupted run's weights.
// Needs dist/ (npm test builds it): the worker is the compiled src/parallel/rollout-worker.ts.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { presetConfig } from '../src/checkpoint/index.js';
import { freePort } from '../src/parallel/launch.js';
import { nativeEngines } from '../src/rl/adapters.js';
import { train } from '../src/rl/loop.js';
import { M } from '../src/run/metric-names.js';
import { repoRoot } from './helpers/paths.js';
import { gtr } from './helpers/cli.js';
import { tinyModelScratch, tinyRecipe, tinyTrainArgs } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-placement-', 7);
const grader = `reward.grader={module: ${join(repoRoot, 'test', 'fixtures', 'grader', 'plain-grader.mjs')}}`;
const quiet = () => {};

function recipe(run: string, extra: string[]) {
  return tinyRecipe(modelDir, join(scratch, run), [
    grader,
    'rollout.max_new_tokens=8',
    'train.steps=3',
    'checkpoint.every_steps=1',
    'checkpoint.keep_last=5',
    ...extra,
  ]);
}

const rows = (run: string) =>
  readFileSync(join(scratch, run, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.kind === 'train');

/**
 * A row without its wall times (timing_s/*); rollout/mean_running is a mean weighted by wall time
 * (the same running count, rounded differently), so it is compared to 12 digits.
 */
const comparable = (r: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(r)
      .filter(([k]) => !k.startsWith('timing_s/'))
      .map(([k, v]) => [k, k === M.rolloutMeanRunning ? Number((v as number).toPrecision(12)) : v]),
  );

const weights = (run: string, step: number) =>
  readFileSync(
    join(scratch, run, 'checkpoints', `step-${String(step).padStart(6, '0')}`, 'policy', 'model.safetensors'),
  );
const samples = (run: string) =>
  readFileSync(join(scratch, run, 'samples.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('rollout.placement: separate', () => {
  it('max_staleness 0: the colocated on-policy run, bitwise (weights at every step, metrics, samples)', async () => {
    await train(recipe('colocated-s0', []), { engines: nativeEngines, log: quiet });
    const log: string[] = [];
    await train(recipe('separate-s0', ['rollout.placement=separate']), {
      engines: nativeEngines,
      log: (l) => log.push(l),
    });
    expect(log.join('\n')).toMatch(/rollout worker 1 of 1: pid \d+, \d+ torch thread\(s\), weights over gloo \(c10d\)/);
    const a = rows('colocated-s0');
    const b = rows('separate-s0');
    expect(b.map(comparable)).toEqual(a.map(comparable));
    // The rewards carry signal (a length grader), so the updates move the weights.
    expect(a.some((r) => (r[M.advantagesMax] as number) > 0)).toBe(true);
    for (const s of [1, 2, 3]) expect(weights('separate-s0', s).equals(weights('colocated-s0', s))).toBe(true);
    expect(weights('separate-s0', 3).equals(readFileSync(join(modelDir, 'model.safetensors')))).toBe(false);
    expect(samples('separate-s0')).toEqual(samples('colocated-s0'));
    // The placement's timings are in the separate run's rows only.
    for (const r of b)
      for (const k of [M.timeWaitRollout, M.timeWaitWeights, M.timeWeightSync]) expect(r[k]).toBeGreaterThanOrEqual(0);
    expect(a[0]).not.toHaveProperty(M.timeWeightSync);
    // The weights after steps 1 and 2 are sent; after the last step no batch needs them.
    expect(b.map((r) => (r[M.timeWeightSync] as number) > 0)).toEqual([true, true, false]);
  }, 300_000);

  it('max_staleness 1: the in-process pipeline of depth 1, bitwise; samples record their policy version', async () => {
    await train(recipe('inproc-s1', ['rollout.max_staleness=1']), { engines: nativeEngines, log: quiet });
    await train(recipe('separate-s1', ['rollout.max_staleness=1', 'rollout.placement=separate']), {
      engines: nativeEngines,
      log: quiet,
    });
    const a = rows('inproc-s1');
    const b = rows('separate-s1');
    expect(b.map(comparable)).toEqual(a.map(comparable));
    expect(b.map((r) => r[M.stalenessMax])).toEqual([0, 1, 1]);
    for (const s of [1, 2, 3]) expect(weights('separate-s1', s).equals(weights('inproc-s1', s))).toBe(true);
    expect(samples('separate-s1').map((x) => x.policy_version)).toEqual(
      samples('inproc-s1').map((x) => x.policy_version),
    );
    // s = 1 is not the on-policy run (step 2 trains on version 0's batch).
    expect(weights('separate-s1', 3).equals(weights('colocated-s0', 3))).toBe(false);
  }, 300_000);

  it('a rollout worker killed mid-run stops the run naming it; the last checkpoint resumes to the same weights', async () => {
    let pid = 0;
    const killAt = (step: number) => (phase: string, s: number) => {
      if (phase === 'update' && s === step && pid === 0) {
        pid = findWorkerPid();
        process.kill(pid, 'SIGKILL');
      }
    };
    const r = recipe('killed-s1', ['rollout.max_staleness=1', 'rollout.placement=separate']);
    await expect(train(r, { engines: nativeEngines, log: quiet, onPhase: killAt(2) })).rejects.toThrow(
      /rollout worker 1 \(pid \d+\) was killed by SIGKILL \(exit code 137\)/,
    );
    expect(pid).toBeGreaterThan(0);
    // Step 1 was checkpointed, with the batch of step 2 (generated ahead, version 0) recorded.
    const ckpt = join(scratch, 'killed-s1', 'checkpoints', 'step-000001');
    expect(
      JSON.parse(readFileSync(join(ckpt, 'rollout-queue.json'), 'utf8')).batches.map((b: { step: number }) => b.step),
    ).toEqual([2]);
    const p = await Policy.load(join(ckpt, 'policy'));
    p.dispose();
    await train(r, { engines: nativeEngines, log: quiet, resume: true });
    expect(weights('killed-s1', 3).equals(weights('separate-s1', 3))).toBe(true);
    expect(rows('killed-s1').map((x) => x.step)).toEqual([1, 2, 3]);
  }, 300_000);

  it('names bad recipe values, and is refused under a data-parallel launch', async () => {
    expect(() => recipe('bad', ['rollout.workers=0'])).toThrow(/rollout\.workers/);
    expect(() => recipe('bad', ['rollout.placement=remote'])).toThrow(/rollout\.placement/);
    const err = await gtr(
      [
        'train',
        ...tinyTrainArgs(modelDir, join(scratch, 'dp'), ['rollout.placement=separate', 'train.steps=1']),
        '--nproc-per-node',
        '2',
      ],
      { env: { GTR_DIST_TIMEOUT_S: '60' } },
    ).then(
      () => '',
      (e: { stderr?: string; stdout?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    expect(err).toMatch(/rollout\.placement = separate is not supported with --nproc-per-node yet/);
  }, 120_000);
});

describe('weight sync over c10d (ProcessGroup.sendWeights / receiveWeights)', () => {
  it('moves the trainable tensors bitwise into a staging buffer, loads them on request, and names a layout mismatch', async () => {
    const port = await freePort();
    const opts = (rank: number) => ({
      rank,
      worldSize: 2,
      masterAddr: '127.0.0.1',
      masterPort: port,
      storeServer: rank === 0,
      backend: 'gloo' as const,
      timeoutMs: 60_000,
      hostname: '127.0.0.1',
    });
    const g0 = new (native().ProcessGroup)(opts(0));
    const g1 = new (native().ProcessGroup)(opts(1));
    await Promise.all([g0.connect(), g1.connect()]);
    const a = await Policy.random(presetConfig('tiny'), 1, { device: 'cpu', dtype: 'float32' });
    const b = await Policy.random(presetConfig('tiny'), 2, { device: 'cpu', dtype: 'float32' });
    const other = await Policy.random({ ...presetConfig('tiny'), num_hidden_layers: 1 }, 2, {
      device: 'cpu',
      dtype: 'float32',
    });
    try {
      const dir = join(scratch, 'sync');
      const before = join(dir, 'b0');
      await b.save(before);
      const [sent, got] = await Promise.all([g0.sendWeights(a.native, 5, 'w'), g1.receiveWeights(b.native, 0, 'w')]);
      expect(got.version).toBe(5);
      expect(got.bytes).toBe(sent.bytes);
      expect(sent.bytes).toBeGreaterThanOrEqual(a.numParameters * 4);
      // Staged only: the live weights are b's until loaded.
      await b.save(join(dir, 'b1'));
      expect(
        readFileSync(join(dir, 'b1', 'model.safetensors')).equals(readFileSync(join(before, 'model.safetensors'))),
      ).toBe(true);
      expect(g1.loadReceivedWeights(b.native)).toBe(5);
      expect(() => g1.loadReceivedWeights(b.native)).toThrow(/no weights were received/);
      await a.save(join(dir, 'a'));
      await b.save(join(dir, 'b2'));
      expect(
        readFileSync(join(dir, 'b2', 'model.safetensors')).equals(readFileSync(join(dir, 'a', 'model.safetensors'))),
      ).toBe(true);
      // Another model on the receiving side: the receive names both layouts.
      const [sender, bad] = await Promise.allSettled([
        g0.sendWeights(a.native, 6, 'w2'),
        g1.receiveWeights(other.native, 0, 'w2'),
      ]);
      expect(sender.status).toBe('rejected');
      expect(String((sender as PromiseRejectedResult).reason)).toMatch(
        /rank\(s\) 1 hold a policy whose tensors differ/,
      );
      expect(bad.status).toBe('rejected');
      expect(String((bad as PromiseRejectedResult).reason)).toMatch(
        /rank 0 sends \d+ tensors .* rank 1's policy has \d+ tensors/,
      );
    } finally {
      a.dispose();
      b.dispose();
      other.dispose();
      g0.close();
      g1.close();
    }
  }, 120_000);
});

/** The pid of this process's one rollout worker child (Linux /proc). */
function findWorkerPid(): number {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (ppid === process.pid && cmd.includes('rollout-worker.js')) return Number(d);
    } catch {
      /* gone */
    }
  }
  throw new Error('no rollout worker child found');
}
