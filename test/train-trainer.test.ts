// The training engine end to end on a tiny random Qwen3 (CPU): exact ratio 1 at the start,
// micro-batch accumulation, AdamW against a JS reference, GTR steps moving log-probs the right
// way, the mixture-anchor epoch loop, non-finite skips, and bitwise resume.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { native } from '../src/native/binding.js';
import type { DType, NativePolicy, NativeTrainMetrics, TensorSource } from '../src/native/types.js';
import { countResponse, Trainer, type TrainBatch } from '../src/train/index.js';
import { scratchDir } from './helpers/scratch.js';
import { randomTrainBatch, tinyNativeConfig } from './helpers/tiny.js';

const addon = native();
const cfg = tinyNativeConfig();

const dir = scratchDir('gtr-train-');

async function makePolicy(seed = 5, dtype: DType = 'float32'): Promise<NativePolicy> {
  const p = new addon.Policy(cfg, { device: 'cpu', dtype });
  await p.initRandom(seed, 0.1);
  return p;
}

/** All weights as float32, by name, through writeSafetensors (exact for fp32 and bf16). */
async function weights(p: NativePolicy, tag: string): Promise<Map<string, Float32Array>> {
  const info = p.parameterInfo();
  const h = buildSafetensorsHeader(info.map((t) => ({ name: t.name, shape: t.shape, dtype: 'F32' })));
  const file = join(dir, `${tag}.safetensors`);
  await p.writeSafetensors(
    file,
    h.header,
    info.map((t) => t.name),
    'F32',
  );
  const bytes = await readFile(file);
  const out = new Map<string, Float32Array>();
  for (const o of h.offsets) {
    const n = (o.dataOffsets[1] - o.dataOffsets[0]) / 4;
    out.set(
      o.name,
      new Float32Array(bytes.buffer.slice(bytes.byteOffset + o.offset, bytes.byteOffset + o.offset + n * 4)),
    );
  }
  return out;
}

/** Saves the weights as one safetensors file and loads them into `q` (the TS checkpoint path in miniature). */
async function copyWeights(p: NativePolicy, q: NativePolicy, tag: string, tagDtype: 'F32' | 'BF16'): Promise<void> {
  const info = p.parameterInfo();
  const h = buildSafetensorsHeader(info.map((t) => ({ name: t.name, shape: t.shape, dtype: tagDtype })));
  const file = join(dir, `${tag}.safetensors`);
  await p.writeSafetensors(
    file,
    h.header,
    info.map((t) => t.name),
    tagDtype,
  );
  const sources: TensorSource[] = h.offsets.map((o, i) => ({
    name: o.name,
    file,
    dtype: tagDtype,
    shape: info[i]!.shape,
    offset: o.offset,
    length: o.dataOffsets[1] - o.dataOffsets[0],
  }));
  await q.loadTensors(sources);
}

function sameBits(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  for (const [name, x] of a) {
    const y = b.get(name)!;
    if (
      Buffer.compare(
        Buffer.from(x.buffer, x.byteOffset, x.byteLength),
        Buffer.from(y.buffer, y.byteOffset, y.byteLength),
      ) !== 0
    )
      return false;
  }
  return true;
}

/** A deterministic batch: `n` sequences of prompt 3 + response 4..7 tokens, advantages +1 / -1 alternating. */
const makeBatch = (n: number, seed: number) => randomTrainBatch({ n, seed });

async function withOld(t: Trainer, b: Omit<TrainBatch, 'oldLogprobs'>): Promise<TrainBatch> {
  return { ...b, oldLogprobs: (await t.logprobs(b)).logprobs };
}

describe('Trainer', () => {
  it('ratios are exactly 1 before the first update (same forward + chunked path), in every micro-batch', async () => {
    for (const checkpointLayers of [false, true]) {
      const p = await makePolicy();
      const t = new Trainer(p, { schedule: { lr: 1e-3 }, tokensPerMicroBatch: 20, checkpointLayers });
      const b = await withOld(t, makeBatch(6, 1));
      const ms = await t.accumulate(b, { name: 'gtr' });
      expect(ms.length).toBeGreaterThan(1);
      for (const m of ms) {
        expect(m.ratioMin).toBe(1);
        expect(m.ratioMax).toBe(1);
        expect(m.penaltyMean).toBe(0);
        expect(m.approxKl).toBe(0);
      }
      t.dispose();
      p.dispose();
    }
  });

  it('accumulating micro-batches with mini-batch denominators equals one big batch', async () => {
    const grads: Float32Array[][] = [];
    const metrics: NativeTrainMetrics[][] = [];
    for (const tokensPerMicroBatch of [1000, 16]) {
      const p = await makePolicy();
      const t = new Trainer(p, { schedule: { lr: 1e-3 }, tokensPerMicroBatch });
      const b0 = await withOld(t, makeBatch(7, 2));
      const b = { ...b0, oldLogprobs: b0.oldLogprobs.map((x, i) => x + 0.05 * Math.cos(i)) };
      metrics.push(await t.accumulate(b, { name: 'gtr', aggregation: 'seq-mean-token-mean' }));
      grads.push((await t.native.gradients()).map((g) => g.grad));
      t.dispose();
    }
    expect(metrics[0]!.length).toBe(1);
    expect(metrics[1]!.length).toBeGreaterThan(3);
    const total = metrics[1]!.reduce((s, m) => s + m.loss, 0);
    expect(total).toBeCloseTo(metrics[0]![0]!.loss, 6);
    for (let i = 0; i < grads[0]!.length; i++) {
      const a = grads[0]![i]!;
      const c = grads[1]![i]!;
      const scale = Math.max(...Array.from(a, Math.abs));
      for (let j = 0; j < a.length; j++) expect(Math.abs(a[j]! - c[j]!)).toBeLessThanOrEqual(1e-5 * scale + 1e-9);
    }
  });

  it('AdamW with gradient clipping matches a JS reference of torch.optim.AdamW', async () => {
    const p = await makePolicy(9);
    const opts = { betas: [0.8, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.1, maxGradNorm: 0.05 };
    const t = new Trainer(p, { schedule: { lr: 0.01 }, ...opts });
    const b = await withOld(t, makeBatch(4, 3));
    const w0 = await weights(p, 'adam-w0');
    await t.accumulate(b, { name: 'grpo' });
    const g = await t.native.gradients();
    const norm = Math.sqrt(g.reduce((s, x) => s + x.grad.reduce((a, v) => a + v * v, 0), 0));
    const r = await t.step();
    expect(r.skipped).toBe(false);
    expect(r.gradNorm).toBeCloseTo(norm, 4);
    const clip = Math.min(1, opts.maxGradNorm / (norm + 1e-6));
    expect(r.clipCoef).toBeCloseTo(clip, 6);
    const w1 = await weights(p, 'adam-w1');
    const lr = 0.01;
    let maxErr = 0;
    for (const { name, grad } of g) {
      const a = w0.get(name)!;
      const b1 = w1.get(name)!;
      for (let j = 0; j < a.length; j++) {
        const gj = grad[j]! * clip;
        const m = (1 - 0.8) * gj;
        const v = (1 - 0.95) * gj * gj;
        const mh = m / (1 - 0.8);
        const denom = Math.sqrt(v) / Math.sqrt(1 - 0.95) + 1e-6;
        const expected = a[j]! * (1 - lr * 0.1) - lr * (mh / denom);
        maxErr = Math.max(maxErr, Math.abs(b1[j]! - expected));
      }
    }
    expect(maxErr).toBeLessThan(1e-6);
    expect(r.step).toBe(1);
    expect(t.stepCount).toBe(1);
  });

  // The multi-epoch update (mixture anchors, exact r = 1, direction of the update) is tested on
  // the loop's update phase: test/rl-update.test.ts.

  it('a NaN advantage skips the update: weights bitwise untouched, reported with a reason', async () => {
    const p = await makePolicy(8);
    const t = new Trainer(p, { schedule: { lr: 1e-2 }, tokensPerMicroBatch: 20 });
    const b = await withOld(t, makeBatch(5, 6));
    const adv = b.advantages.slice();
    adv[20] = Number.NaN;
    const w0 = await weights(p, 'nan-w0');
    await t.accumulate({ ...b, advantages: adv }, { name: 'gtr' });
    const r = await t.step();
    expect(r.skipped).toBe(true);
    expect(r.reason).toMatch(/non-finite loss/);
    expect(r.step).toBe(0);
    expect(sameBits(w0, await weights(p, 'nan-w1'))).toBe(true);
    // gradients were dropped: the next clean step works
    expect((await t.native.gradients()).every((g) => g.grad.every((x) => x === 0))).toBe(true);
    const r2 = await t.trainStep(b, { name: 'gtr' });
    expect(r2.skipped).toBe(false);
    expect(sameBits(w0, await weights(p, 'nan-w2'))).toBe(false);
  });

  for (const dtype of ['float32', 'bfloat16'] as const) {
    it(`resume from saved weights + trainer state is bitwise identical to never stopping (${dtype})`, async () => {
      const tag = dtype === 'float32' ? 'F32' : 'BF16';
      const batches = [1, 2, 3, 4].map((i) => makeBatch(5, 10 + i));
      const schedule = { lr: 5e-3, warmupSteps: 2, kind: 'cosine' as const, totalSteps: 4, minLrRatio: 0.1 };
      const run = async (t: Trainer, from: number, to: number) => {
        for (let i = from; i < to; i++) {
          const b = await withOld(t, batches[i]!);
          const r = await t.trainStep(b, { name: 'gtr', klCoef: 0 });
          expect(r.skipped).toBe(false);
        }
      };
      const a = await makePolicy(12, dtype);
      const ta = new Trainer(a, { schedule, tokensPerMicroBatch: 24 });
      await run(ta, 0, 4);

      const b = await makePolicy(12, dtype);
      const tb = new Trainer(b, { schedule, tokensPerMicroBatch: 24 });
      await run(tb, 0, 2);
      const stateDir = join(dir, `state-${dtype}`);
      await expect(tb.saveState(stateDir)).resolves.toBeUndefined();
      const c = await makePolicy(99, dtype);
      await copyWeights(b, c, `resume-${dtype}`, tag);
      tb.dispose();
      b.dispose();
      const tc = new Trainer(c, { schedule, tokensPerMicroBatch: 24 });
      await tc.loadState(stateDir);
      expect(tc.stepCount).toBe(2);
      await run(tc, 2, 4);
      expect(sameBits(await weights(a, `ra-${dtype}`), await weights(c, `rc-${dtype}`))).toBe(true);
    });
  }

  it('state files: pending gradients refuse to save; a mismatched trainer refuses to load', async () => {
    const p = await makePolicy(1);
    const t = new Trainer(p, { schedule: { lr: 1e-3 } });
    const b = await withOld(t, makeBatch(2, 7));
    await t.accumulate(b, { name: 'grpo' });
    await expect(t.saveState(join(dir, 'pending'))).rejects.toThrow(/pending/);
    await t.zeroGrad();
    await t.saveState(join(dir, 'small'));
    const q = new addon.Policy({ ...cfg, intermediateSize: 48 }, { device: 'cpu', dtype: 'float32' });
    await q.initRandom(1, 0.1);
    const tq = new Trainer(q, { schedule: { lr: 1e-3 } });
    await expect(tq.loadState(join(dir, 'small'))).rejects.toThrow(/does not match this trainer/);
    await expect(tq.loadState(join(dir, 'missing'))).rejects.toThrow(/cannot read trainer state/);
  });

  it('reference policy: referenceLogprobs of an identical copy equal logprobs; KL loss is 0 there', async () => {
    const p = await makePolicy(2);
    const ref = await makePolicy(2);
    const t = new Trainer(p, { schedule: { lr: 1e-3 }, reference: ref, tokensPerMicroBatch: 30 });
    const b0 = makeBatch(3, 8);
    const [own, other] = [await t.logprobs(b0), await t.referenceLogprobs(b0)];
    expect(Buffer.compare(Buffer.from(own.logprobs.buffer), Buffer.from(other.logprobs.buffer))).toBe(0);
    const b = { ...b0, oldLogprobs: own.logprobs, refLogprobs: other.logprobs };
    const ms = await t.accumulate(b, { name: 'grpo', klCoef: 0.1, klEstimator: 'k3' });
    expect(ms.every((m) => m.klLoss === 0 && m.refKl === 0)).toBe(true);
    const noRef = new Trainer(p, { schedule: { lr: 1e-3 } });
    await expect(noRef.referenceLogprobs(b0)).rejects.toThrow(/no reference policy/);
    await expect(t.accumulate({ ...b0, oldLogprobs: own.logprobs }, { name: 'grpo', klCoef: 0.1 })).rejects.toThrow(
      /refLogprobs/,
    );
  });

  it('input errors name the field', async () => {
    const p = await makePolicy(3);
    const t = new Trainer(p, { schedule: { lr: 1e-3 } });
    const b = await withOld(t, makeBatch(2, 9));
    const bad = { ...b, responseMask: b.responseMask.slice() };
    bad.responseMask[0] = 1;
    await expect(t.accumulate(bad, { name: 'grpo' })).rejects.toThrow(/first token of sequence 0/);
    await expect(t.accumulate({ ...b, advantages: b.advantages.subarray(1) }, { name: 'grpo' })).rejects.toThrow(
      /advantages has/,
    );
    await expect(t.accumulate(b, { name: 'nope' as never })).rejects.toThrow(/grpo, ppo, gtr/);
    expect(countResponse(b)).toEqual({ tokens: 4 + 5, sequences: 2 });
    t.dispose();
    expect(() => t.step()).toThrow(/disposed/);
  });
});
