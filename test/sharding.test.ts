// Sharded training state (issue 28, train.sharding: optimizer = ZeRO-1/2) on CPU, gloo, 2 ranks:
// against train.sharding: none at 2 ranks (the yardstick: none at 2 ranks vs 1 process is
// test/dist-train.test.ts's), the trainer-state bytes per rank, a rank killed mid-step then the
// resume, and a resume on another world size refused.
//
// Tolerance of optimizer vs none: the relative distance of the weight changes must be below 5e-3,
// as for none at 2 ranks vs 1 process (dist-train.test.ts). The gradients summed over the ranks are
// the same (gloo's sum all-reduce in both; the reduce-scatter keeps this rank's chunk of it), and
// AdamW's update is the same elementwise arithmetic, but the global gradient norm is summed in
// another order (per shard, in float64, then over ranks), so the clip coefficient may differ in its
// last bits, and AdamW's first updates (~lr g/|g|) carry that into the weights.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { shardStateFile, TRAINER_STATE_DIR } from '../src/run/dir.js';
import { tinyModelScratch, tinyTrainArgs } from './helpers/tiny.js';
import { repoRoot } from './helpers/paths.js';
import { distSkipReason } from './helpers/dist.js';
import { killAll, startTrain } from './helpers/train-process.js';
import { gtr } from './helpers/cli.js';
import { python, pythonHas } from './helpers/python.js';

const skipWhy = distSkipReason();
if (skipWhy) console.warn(`sharding tests skipped: ${skipWhy}`);

const { scratch, modelDir } = tinyModelScratch('gtr-shard-', 3);
afterAll(() => killAll());

const STEPS = 2;
const hf = pythonHas(['torch', 'transformers']);
const TEXT = 'What is 17 + 25? Think step by step. The answer is \\boxed{42}.';
const signal = ['--set', `reward.grader={module: ${join(repoRoot, 'test', 'fixtures', 'grader', 'plain-grader.mjs')}}`];
const args = (run: string, sharding: string, extra: string[] = []) => [
  ...tinyTrainArgs(modelDir, join(scratch, run), [
    'checkpoint.keep_last=10',
    'checkpoint.every_steps=1',
    'rollout.max_new_tokens=8',
    `train.steps=${STEPS}`,
    `train.sharding=${sharding}`,
  ]),
  ...signal,
  ...extra,
];
const start = (trainArgs: string[]) => startTrain(trainArgs, { GLOO_SOCKET_IFNAME: 'lo', GTR_DIST_TIMEOUT_S: '120' });

const ckpt = (run: string, step: number) => join(scratch, run, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
const weightsFile = (dir: string) => join(dir, 'policy', 'model.safetensors');
const jsonl = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));

/** Every float32 tensor of a safetensors file, by name. */
async function tensors(file: string): Promise<Map<string, Float32Array>> {
  const h = await parseSafetensorsHeader(file);
  const buf = readFileSync(file);
  const out = new Map<string, Float32Array>();
  for (const e of h.tensors) {
    if (e.dtype !== 'F32') continue;
    out.set(
      e.name,
      new Float32Array(buf.buffer.slice(buf.byteOffset + e.offset, buf.byteOffset + e.offset + e.length)),
    );
  }
  return out;
}

/** ||(b - w0) - (a - w0)|| / ||a - w0|| over every tensor, and how many elements differ at all. */
async function relativeChangeDistance(a: string, b: string) {
  const w0 = await tensors(join(modelDir, 'model.safetensors'));
  const x = await tensors(a),
    y = await tensors(b);
  let diff = 0,
    change = 0,
    differing = 0;
  for (const [name, xa] of x) {
    const yb = y.get(name)!,
      z = w0.get(name)!;
    for (let i = 0; i < xa.length; i++) {
      diff += (xa[i] - yb[i]) ** 2;
      change += (xa[i] - z[i]) ** 2;
      if (xa[i] !== yb[i]) differing++;
    }
  }
  return { rel: Math.sqrt(diff / change), change, differing };
}

describe.skipIf(skipWhy !== undefined)('train.sharding at 2 ranks (gloo, CPU)', () => {
  it('equals train.sharding: none within round-off; each rank holds half the trainer state', async () => {
    const none = start(args('none', 'none', ['--nproc-per-node', '2']));
    expect((await none.exited).code, none.out()).toBe(0);
    const opt = start(args('opt', 'optimizer', ['--nproc-per-node', '2']));
    expect((await opt.exited).code, opt.out()).toBe(0);
    for (let s = 1; s <= STEPS; s++) {
      expect(opt.out()).toContain(`[rank 1] rank 1: weights at step ${s} bitwise equal to rank 0's on all 2 ranks`);
      const d = await relativeChangeDistance(weightsFile(ckpt('none', s)), weightsFile(ckpt('opt', s)));
      console.log(
        `optimizer vs none at 2 ranks, step ${s}: relative distance of the weight changes ${d.rel.toExponential(2)} (${d.differing} elements differ)`,
      );
      expect(d.change).toBeGreaterThan(0);
      expect(d.rel, `step ${s}`).toBeLessThan(5e-3);
    }
    // Rollouts at step 1 come from the same weights: the same tokens, so the same rewards.
    const m0 = jsonl(join(scratch, 'none', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    const m1 = jsonl(join(scratch, 'opt', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    expect(m1.map((r) => r.step)).toEqual([1, 2]);
    expect(m1[0]['critic/score/mean']).toEqual(m0[0]['critic/score/mean']);
    for (const k of ['actor/pg_loss', 'actor/grad_norm'])
      expect(Math.abs(m1[0][k] - m0[0][k]), k).toBeLessThanOrEqual(1e-3 * Math.abs(m0[0][k]) + 1e-6);

    // Trainer state per rank: each rank's shard file against none's whole optimizer.safetensors
    // (fp32 params: AdamW's two moments, 8 bytes a parameter; sharded: 8 / W plus < W padding
    // elements a unit, and the layout in the header).
    const whole = statSync(join(ckpt('none', STEPS), TRAINER_STATE_DIR, 'optimizer.safetensors')).size;
    const state = join(ckpt('opt', STEPS), TRAINER_STATE_DIR);
    expect(readdirSync(state).sort()).toEqual(
      [shardStateFile(0, 2), shardStateFile(1, 2), 'trainer_state.json'].sort(),
    );
    for (const r of [0, 1]) {
      const bytes = statSync(join(state, shardStateFile(r, 2))).size;
      console.log(
        `trainer state: rank ${r} of 2 holds ${bytes} bytes, none holds ${whole} on every rank (${(bytes / whole).toFixed(4)})`,
      );
      expect(bytes / whole).toBeGreaterThan(0.45);
      expect(bytes / whole).toBeLessThan(0.55);
    }
    // The shards are none's moments, cut in two: rank 0's then rank 1's exp_avg of the root unit
    // (embeddings first) against none's exp_avg of model.embed_tokens.weight.
    const ref = await tensors(join(ckpt('none', STEPS), TRAINER_STATE_DIR, 'optimizer.safetensors'));
    const emb = ref.get('exp_avg.model.embed_tokens.weight')!;
    const s0 = (await tensors(join(state, shardStateFile(0, 2)))).get('zero.root.exp_avg')!;
    const s1 = (await tensors(join(state, shardStateFile(1, 2)))).get('zero.root.exp_avg')!;
    const joined = new Float32Array(s0.length + s1.length);
    joined.set(s0);
    joined.set(s1, s0.length);
    let diff = 0,
      norm = 0;
    for (let i = 0; i < emb.length; i++) {
      diff += (joined[i] - emb[i]) ** 2;
      norm += emb[i] ** 2;
    }
    expect(norm).toBeGreaterThan(0);
    expect(Math.sqrt(diff / norm)).toBeLessThan(5e-3);
  }, 600_000);

  it('a rank killed mid-step, then --resume: equals the uninterrupted run bitwise', async () => {
    const k = start(args('killed', 'optimizer', ['--nproc-per-node', '2']));
    await k.waitFor(/checkpoint \S*step-000001/);
    const pid = Number(/rank 1 of 2 is pid (\d+)/.exec(k.out())![1]);
    process.kill(pid, 'SIGKILL');
    const { code } = await k.exited;
    expect(code).not.toBe(0);
    expect(k.out()).toMatch(/rank 1 \(pid \d+\) was killed by SIGKILL/);
    const dir = join(scratch, 'killed');
    expect(readdirSync(join(dir, 'checkpoints'))).toContain('step-000001');
    const r = start(args('killed', 'optimizer', ['--nproc-per-node', '2', '--resume']));
    expect((await r.exited).code, r.out()).toBe(0);
    expect(r.out()).toMatch(/resuming \S+killed after step \d/);
    // Bitwise the uninterrupted run's weights and optimizer shards.
    expect(readFileSync(weightsFile(ckpt('killed', STEPS))).equals(readFileSync(weightsFile(ckpt('opt', STEPS))))).toBe(
      true,
    );
    for (const f of [shardStateFile(0, 2), shardStateFile(1, 2)])
      expect(
        readFileSync(join(ckpt('killed', STEPS), TRAINER_STATE_DIR, f)).equals(
          readFileSync(join(ckpt('opt', STEPS), TRAINER_STATE_DIR, f)),
        ),
        f,
      ).toBe(true);
    expect(existsSync(`${ckpt('killed', STEPS)}.shards`)).toBe(false);
  }, 600_000);

  it('full (ZeRO-3 / FSDP) equals none within round-off; each rank holds half of the weights and trainer state', async () => {
    const full = start(args('full', 'full', ['--nproc-per-node', '2']));
    expect((await full.exited).code, full.out()).toBe(0);
    expect(full.out()).toMatch(
      /train\.sharding: full: the gathered full weights \([\d.]+ GiB per rank\) are freed after each rollout phase/,
    );
    for (let s = 1; s <= STEPS; s++) {
      expect(full.out()).toContain(`[rank 1] rank 1: weights at step ${s} bitwise equal to rank 0's on all 2 ranks`);
      const d = await relativeChangeDistance(weightsFile(ckpt('none', s)), weightsFile(ckpt('full', s)));
      console.log(
        `full vs none at 2 ranks, step ${s}: relative distance of the weight changes ${d.rel.toExponential(2)} (${d.differing} elements differ)`,
      );
      expect(d.change).toBeGreaterThan(0);
      expect(d.rel, `step ${s}`).toBeLessThan(5e-3);
    }
    const m0 = jsonl(join(scratch, 'none', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    const m1 = jsonl(join(scratch, 'full', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    expect(m1[0]['critic/score/mean']).toEqual(m0[0]['critic/score/mean']);
    for (const k of ['actor/pg_loss', 'actor/grad_norm'])
      expect(Math.abs(m1[0][k] - m0[0][k]), k).toBeLessThanOrEqual(1e-3 * Math.abs(m0[0][k]) + 1e-6);
    // At full the shards hold the weights too (fp32: weights + two moments, 12 bytes a parameter,
    // over W): against none's whole state on every rank (optimizer.safetensors + the weights).
    const whole =
      statSync(join(ckpt('none', STEPS), TRAINER_STATE_DIR, 'optimizer.safetensors')).size +
      statSync(weightsFile(ckpt('none', STEPS))).size;
    for (const r of [0, 1]) {
      const bytes = statSync(join(ckpt('full', STEPS), TRAINER_STATE_DIR, shardStateFile(r, 2))).size;
      console.log(
        `full: rank ${r} of 2 holds ${bytes} bytes of weights + trainer state, none ${whole} on every rank (${(bytes / whole).toFixed(4)})`,
      );
      expect(bytes / whole).toBeGreaterThan(0.45);
      expect(bytes / whole).toBeLessThan(0.55);
    }
  }, 600_000);

  it.skipIf(!hf.ok)(
    "gtr checkpoint consolidate: the HF layout from the shards; transformers loads it with gtr score's log-probs",
    async () => {
      const out = join(scratch, 'full-hf');
      const r = await gtr(['checkpoint', 'consolidate', join(scratch, 'full'), '--out', out]);
      expect(r.stdout).toMatch(/from the shards of 2 ranks, train\.sharding: full\), float32/);
      // Rebuilt from the fp32 masters: bitwise the gathered weights rank 0 saved in policy/.
      const a = await tensors(join(out, 'model.safetensors'));
      const b = await tensors(weightsFile(ckpt('full', STEPS)));
      expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
      for (const [name, x] of a)
        expect(Buffer.from(x.buffer).equals(Buffer.from(b.get(name)!.buffer)), name).toBe(true);
      const ref = JSON.parse(
        execFileSync(python, [join(repoRoot, 'test', 'python', 'hf_logprobs.py'), out, TEXT, 'float32'], {
          encoding: 'utf8',
          timeout: 300_000,
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as { tokens: number[]; logprobs: (number | null)[] };
      const ours = JSON.parse((await gtr(['score', '--model', out, '--text', TEXT, '--json'])).stdout) as {
        tokens: number[];
        logprobs: (number | null)[];
      };
      expect(ours.tokens).toEqual(ref.tokens);
      let maxDiff = 0;
      for (let i = 1; i < ref.tokens.length; i++)
        maxDiff = Math.max(maxDiff, Math.abs(ours.logprobs[i]! - ref.logprobs[i]!));
      console.log(
        `consolidated checkpoint: transformers vs gtr score, max |log-prob difference| ${maxDiff.toExponential(2)}`,
      );
      expect(maxDiff).toBeLessThan(1e-3);
      // An unsharded checkpoint is named as such.
      await expect(
        gtr(['checkpoint', 'consolidate', ckpt('none', STEPS), '--out', join(scratch, 'none-hf')]),
      ).rejects.toThrow(/not sharded/);
    },
    300_000,
  );

  it('full: a rank killed mid-step, then --resume: equals the uninterrupted run bitwise', async () => {
    const k = start(args('killed-full', 'full', ['--nproc-per-node', '2']));
    await k.waitFor(/checkpoint \S*step-000001/);
    const pid = Number(/rank 1 of 2 is pid (\d+)/.exec(k.out())![1]);
    process.kill(pid, 'SIGKILL');
    expect((await k.exited).code).not.toBe(0);
    const r = start(args('killed-full', 'full', ['--nproc-per-node', '2', '--resume']));
    expect((await r.exited).code, r.out()).toBe(0);
    expect(
      readFileSync(weightsFile(ckpt('killed-full', STEPS))).equals(readFileSync(weightsFile(ckpt('full', STEPS)))),
    ).toBe(true);
  }, 600_000);

  it('resuming a 2-rank sharded checkpoint in one process is refused, naming both world sizes', async () => {
    const r = start(args('opt', 'optimizer', ['--resume', '--set', `train.steps=${STEPS + 1}`]));
    const { code } = await r.exited;
    expect(code).not.toBe(0);
    expect(r.out()).toMatch(/saved by 2 rank\(s\), and this run has 1/);
    expect(r.out()).toMatch(/--nproc-per-node 2/);
  }, 300_000);
});
