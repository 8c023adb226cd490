// Data-parallel training on CPU (issue 12): `gtr train --nproc-per-node 2` on the tiny GTR recipe
// against the single-process run on the same global batch, then a rank killed mid-step and the
// 2-rank resume. The collectives are gloo (Debian libgloo-dev, scripts/setup.sh installs it); when
// the addon was built without it, these tests skip and say so.
//
// Tolerance of the 2-rank vs 1-rank weights: the relative distance of the weight changes,
// ||(w2 - w0) - (w1 - w0)|| / ||w1 - w0||, must be below 5e-3 (measured: 1.6e-4 after 1 step,
// 6e-4 after 3). Not bitwise because each rank sums its own samples' gradients and gloo then adds the
// two partial sums: float32 addition is not associative, so the gradients differ in the last bits
// (~1e-7 relative), and AdamW's first updates are ~lr * g / |g| per element, which turns last-bit
// differences of near-zero gradient elements into differences of order lr in those elements.
//
// Rollouts are compared exactly, so the draws must not hinge on round-off. The two runs' logits
// differ in the last bits even for the same weights: a rank decodes its 4 sequences where one process
// decodes 8, and CPU GEMMs round a row differently with the batch's row count (measured: up to 3e-7
// on logits of magnitude ~1 at step 1; after steps 1 and 2 the weights differ too, giving
// logits within 2.1e-7). The random tiny model's distribution over ~151k ids is near
// uniform (each id ~7e-6), so such a difference moves an inverse-CDF draw by an id or two in ~1% of
// draws (it did, once vocabSize cut the row at the tokenizer's size). With rollout.top_k = 4 a draw
// changes only if a logit difference reaches half the gap between the 4th and 5th largest logit, or a
// kept probability moves across the uniform: among the reference run's 192 draws the smallest such
// gap is 7.1e-5 and the smallest distance of a uniform to a kept-CDF boundary 2.0e-3 (both measured
// by replaying its rollouts with their logits), over 100x the round-off. The logits are a property of
// the model, not the CPU, so the margins hold on other machines. The samples still differ within a
// group (the rewards carry signal), and the trainer sees the untruncated log-probs as before.
import { afterAll, describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelScratch, tinyTrainArgs } from './helpers/tiny.js';
import { freePort } from '../src/parallel/launch.js';
import { Policy } from '../src/policy.js';
import { dataDir, repoRoot } from './helpers/paths.js';
import { distSkipReason } from './helpers/dist.js';
import { killAll, startTrain } from './helpers/train-process.js';
import { f32Tensors, relativeChangeDistance } from './helpers/weights.js';

const skipWhy = distSkipReason();
if (skipWhy) console.warn(`dist-train tests skipped: ${skipWhy}`);

const { scratch, modelDir } = tinyModelScratch('gtr-dist-', 3);
afterAll(() => killAll());

const STEPS = 3;
const args = (run: string, extra: string[] = []) => [
  ...tinyTrainArgs(modelDir, join(scratch, run), [
    'checkpoint.keep_last=10',
    'checkpoint.every_steps=1',
    'rollout.max_new_tokens=8',
    `train.steps=${STEPS}`,
  ]),
  ...extra,
];

// Rewards that carry signal (the response's length; a random tiny model answers no math), so the
// updates move the weights and the trainer metrics are more than round-off; top_k 4 keeps the draws
// clear of round-off (see the top of the file).
const signal = [
  '--set',
  `reward.grader={module: ${join(repoRoot, 'test', 'fixtures', 'grader', 'plain-grader.mjs')}}`,
  '--set',
  'rollout.top_k=4',
];

function start(trainArgs: string[], opts: { group?: boolean; env?: Record<string, string> } = {}) {
  return startTrain(trainArgs, { GLOO_SOCKET_IFNAME: 'lo', GTR_DIST_TIMEOUT_S: '120', ...opts.env }, [], opts);
}

const jsonl = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
const ckpt = (run: string, step: number) => join(scratch, run, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
const weightsFile = (dir: string) => join(dir, 'policy', 'model.safetensors');

const tensors = (file: string) => f32Tensors(file);

// Metrics that legitimately differ: wall times, each rank's own KV pool, and the micro-batch count
// (each rank packs its own samples, so 2 ranks run at least 2 micro-batches where 1 process ran 1).
const PER_PROCESS =
  /^(timing_s\/|rollout\/(kv_|prompt_prefills|mean_running|preemptions|blocks_))|^actor\/micro_batches$/;

describe.skipIf(skipWhy !== undefined)('gtr train --nproc-per-node 2 (gloo, CPU)', () => {
  let two: ReturnType<typeof start>;

  it('equals the single-process run: bitwise-identical replicas, weights within round-off, same metrics', async () => {
    const one = start(args('one', signal));
    expect((await one.exited).code, one.out()).toBe(0);
    two = start(args('two', [...signal, '--nproc-per-node', '2']));
    expect((await two.exited).code, two.out()).toBe(0);
    // Each rank compared its weights bitwise with rank 0's before every checkpoint.
    for (let s = 1; s <= STEPS; s++) {
      expect(two.out()).toContain(`rank 0: weights at step ${s} bitwise equal to rank 0's on all 2 ranks`);
      expect(two.out()).toContain(`[rank 1] rank 1: weights at step ${s} bitwise equal to rank 0's on all 2 ranks`);
    }
    // Progress comes from rank 0 alone: one line per step, none from rank 1 (issue #26).
    expect(two.out().match(/^step \d+\/\d+ reward/gm)).toHaveLength(STEPS);
    expect(two.out()).not.toMatch(/\[rank 1\] (step \d+\/\d+ reward|done after step)/);
    // Rank 0 alone wrote the run directory: one metrics row per step.
    const m1 = jsonl(join(scratch, 'one', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    const m2 = jsonl(join(scratch, 'two', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    expect(m2.map((r) => r.step)).toEqual([1, 2, 3]);
    expect(Object.keys(m2[0]).sort()).toEqual(Object.keys(m1[0]).sort());
    for (let i = 0; i < STEPS; i++) {
      for (const [k, v] of Object.entries(m1[i])) {
        if (PER_PROCESS.test(k)) continue;
        const w = m2[i][k];
        if (k.startsWith('actor/') || k === 'training/rollout_logprob_diff_mean') {
          // Trainer metrics: computed from the weights, so equal within the weights' round-off.
          expect(Math.abs((w as number) - (v as number)), `${k} at step ${i + 1}`).toBeLessThanOrEqual(
            1e-3 * Math.abs(v as number) + 1e-6,
          );
        } else {
          // Rollout metrics (rewards, accuracy, lengths, batch counts): the same tokens, so exact.
          expect(w, `${k} at step ${i + 1}`).toEqual(v);
        }
      }
    }
    const w0 = await tensors(join(modelDir, 'model.safetensors'));
    for (const s of [1, STEPS]) {
      const a = await tensors(weightsFile(ckpt('one', s))),
        b = await tensors(weightsFile(ckpt('two', s)));
      const { rel, change, differing } = relativeChangeDistance(w0, a, b);
      expect(change).toBeGreaterThan(0);
      expect(rel, `step ${s}`).toBeLessThan(5e-3);
      expect(differing).toBeGreaterThan(0); // not trivially the same run
    }
  }, 600_000);

  it('a rank killed mid-step ends the other with an error naming rank and operation; the run resumes as if uninterrupted', async () => {
    const k = start(args('killed', [...signal, '--nproc-per-node', '2']));
    await k.waitFor(/checkpoint \S*step-000001/);
    const pid = Number(/rank 1 of 2 is pid (\d+)/.exec(k.out())![1]);
    process.kill(pid, 'SIGKILL');
    const { code } = await k.exited;
    expect(code).not.toBe(0);
    expect(k.out()).toMatch(/rank 1 \(pid \d+\) was killed by SIGKILL/);
    expect(k.out()).toMatch(/rank 0 of 2: (all-reduce|broadcast|barrier) '[^']+' failed \(gloo\)/);
    // The run directory: step 1 complete, nothing half-written of a later step's checkpoint.
    const dir = join(scratch, 'killed');
    const cks = readdirSync(join(dir, 'checkpoints')).filter((d) => !d.includes('.tmp-'));
    expect(cks).toContain('step-000001');
    expect(existsSync(join(dir, 'run.lock'))).toBe(false);

    const r = start(args('killed', [...signal, '--nproc-per-node', '2', '--resume']));
    expect((await r.exited).code, r.out()).toBe(0);
    expect(r.out()).toMatch(/resuming \S+killed after step \d/);
    expect(
      jsonl(join(dir, 'metrics.jsonl'))
        .filter((x) => x.kind === 'train')
        .map((x) => x.step),
    ).toEqual([1, 2, 3]);
    // Bitwise the uninterrupted 2-rank run's weights.
    expect(readFileSync(weightsFile(ckpt('killed', STEPS))).equals(readFileSync(weightsFile(ckpt('two', STEPS))))).toBe(
      true,
    );
  }, 600_000);

  it("Ctrl-C (SIGINT to the terminal's process group) saves the last completed step on every rank and exits 130", async () => {
    // Issue 32: the launcher had no SIGINT handler and died at once; rank 1 died with its pipe and
    // rank 0 failed at a broadcast, so nothing was saved.
    const c = start(
      args('ctrl-c', ['--nproc-per-node', '2', '--set', 'train.steps=50', '--set', 'checkpoint.every_steps=100']),
      {
        group: true,
      },
    );
    // Progress comes from rank 0 alone; the ranks step together (collectives), so rank 1 is there too.
    await c.waitFor(/^step 1\/50/m);
    process.kill(-c.child.pid!, 'SIGINT');
    const { code } = await c.exited;
    expect(code, c.out()).toBe(130);
    expect(c.out()).toMatch(/gtr launch: SIGINT: passed on to every rank/);
    expect(c.out()).toMatch(/^SIGINT: saving a checkpoint/m);
    expect(c.out()).toMatch(/\[rank 1\] SIGINT: saving a checkpoint/);
    expect(c.out()).not.toMatch(/failed \(gloo\)/);
    const last = Number(/interrupted after step (\d+)/.exec(c.out())![1]);
    expect(last).toBeGreaterThanOrEqual(1);
    const state = JSON.parse(readFileSync(join(ckpt('ctrl-c', last), 'loop-state.json'), 'utf8'));
    expect(state.step).toBe(last);
    expect(existsSync(join(scratch, 'ctrl-c', 'run.lock'))).toBe(false);
  }, 600_000);

  it('with only RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set (no torchrun), rank 0 hosts the store', async () => {
    // Issue 32: no rank served the store, so both waited out the timeout and failed.
    const port = String(await freePort());
    const env = (rank: number) => ({
      RANK: String(rank),
      WORLD_SIZE: '2',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: port,
    });
    const STEPS1 = ['--set', 'train.steps=1'];
    const r0 = start(args('plain-env', STEPS1), { env: { ...env(0), GTR_DIST_TIMEOUT_S: '60' } });
    const r1 = start(args('plain-env', STEPS1), { env: { ...env(1), GTR_DIST_TIMEOUT_S: '60' } });
    const [a, b] = await Promise.all([r0.exited, r1.exited]);
    expect(a.code, r0.out()).toBe(0);
    expect(b.code, r1.out()).toBe(0);
    expect(r0.out()).toMatch(/rank 0 of 2: joining the rendezvous at 127\.0\.0\.1:\d+ \(serving the store/);
    expect(r1.out()).toMatch(/rank 1 of 2: joining the rendezvous .*\(store served elsewhere/);
    expect(
      jsonl(join(scratch, 'plain-env', 'metrics.jsonl'))
        .filter((x) => x.kind === 'train')
        .map((x) => x.step),
    ).toEqual([1]);
  }, 300_000);

  it('a rank whose MASTER_PORT is served by a silent listener fails after GTR_DIST_TIMEOUT_S, and SIGTERM ends the wait', async () => {
    // Issue 32: against something that accepts connections but never answers (python3 -m
    // http.server), the rank blocked in the rendezvous forever, deaf to the timeout and to SIGTERM.
    const sockets: Socket[] = [];
    const silent = createServer((sock) => void sockets.push(sock)); // accepts, never answers
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const port = String((silent.address() as { port: number }).port);
    const env = { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: port };
    try {
      const t0 = Date.now();
      const timed = start(args('silent'), { env: { ...env, GTR_DIST_TIMEOUT_S: '3' } });
      const { code } = await timed.exited;
      expect(code, timed.out()).toBe(1);
      expect(timed.out()).toMatch(
        new RegExp(
          `rank 1: no rendezvous with the 2 ranks at 127\\.0\\.0\\.1:${port} .*within GTR_DIST_TIMEOUT_S = 3 s`,
        ),
      );
      expect(Date.now() - t0).toBeLessThan(60_000);

      const termed = start(args('silent'), { env: { ...env, GTR_DIST_TIMEOUT_S: '600' } });
      await termed.waitFor(/joining the rendezvous/);
      await new Promise((res) => setTimeout(res, 1000)); // connected, waiting for an answer
      termed.child.kill('SIGTERM');
      const t1 = Date.now();
      const end = await termed.exited;
      expect(end.code, termed.out()).toBe(143);
      expect(termed.out()).toMatch(/interrupted while waiting for the rendezvous/);
      expect(Date.now() - t1).toBeLessThan(30_000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  }, 300_000);
});

describe('multi-GPU without NCCL', () => {
  it('joining a CUDA job with an addon built without NCCL names the flag and what to install', async () => {
    const { DistContext } = await import('../src/parallel/context.js');
    const { native } = await import('../src/native/binding.js');
    if (native().versions().ncclCompiled) return; // this addon has NCCL: the error cannot occur
    const env = {
      rank: 0,
      worldSize: 2,
      localRank: 0,
      masterAddr: '127.0.0.1',
      masterPort: 1,
      storeServer: false,
      timeoutMs: 1000,
    };
    await expect(DistContext.join(env, 'cuda:0')).rejects.toThrow(
      /--nproc-per-node on CUDA needs NCCL.*nvidia-nccl-cu13/,
    );
  });
});
