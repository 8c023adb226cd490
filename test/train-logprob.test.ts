// Chunked log-probs / entropy (native/train/chunked_logprob.cpp) against a naive full-logits
// autograd implementation and a float64 JS reference; activation checkpointing against the plain forward.
import { describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { tinyNativeConfig } from './helpers/tiny.js';

const addon = native();

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('chunked log-probs and entropy', () => {
  const N = 37;
  const H = 16;
  const V = 101;
  const r = rng(7);
  const hidden = Float32Array.from({ length: N * H }, () => (r() - 0.5) * 4);
  const weight = Float32Array.from({ length: V * H }, () => (r() - 0.5) * 2);
  const targets = Int32Array.from({ length: N }, () => Math.floor(r() * V));
  const gradLogp = Float32Array.from({ length: N }, () => r() - 0.5);
  const gradEntropy = Float32Array.from({ length: N }, () => r() - 0.5);
  const args = { hidden, weight, targets, hiddenSize: H, gradLogp, gradEntropy, chunk: 1 };
  const naive = addon.testing.chunkedLogprobDebug({ ...args, naive: true });

  it('the naive reference matches a float64 JS log-softmax', () => {
    for (let i = 0; i < N; i++) {
      const z = Array.from({ length: V }, (_, v) => {
        let s = 0;
        for (let h = 0; h < H; h++) s += hidden[i * H + h]! * weight[v * H + h]!;
        return s;
      });
      const m = Math.max(...z);
      const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
      const ent = -z.reduce((s, x) => s + Math.exp(x - lse) * (x - lse), 0);
      expect(naive.logprobs[i]).toBeCloseTo(z[targets[i]!]! - lse, 4);
      expect(naive.entropy[i]).toBeCloseTo(ent, 4);
    }
  });

  for (const chunk of [1, 4, 16, 36, 37, 1000]) {
    it(`chunk ${chunk}: values and gradients (hidden and lm_head) equal the full-logits version within 1e-5`, () => {
      const c = addon.testing.chunkedLogprobDebug({ ...args, chunk });
      expect(maxAbsDiff(c.logprobs, naive.logprobs)).toBeLessThan(1e-5);
      expect(maxAbsDiff(c.entropy, naive.entropy)).toBeLessThan(1e-5);
      expect(maxAbsDiff(c.gradHidden, naive.gradHidden)).toBeLessThan(1e-5);
      expect(maxAbsDiff(c.gradWeight, naive.gradWeight)).toBeLessThan(1e-5);
    });
  }

  it('an unused entropy output contributes no gradient', () => {
    const zero = new Float32Array(N);
    const c = addon.testing.chunkedLogprobDebug({ ...args, gradEntropy: zero, chunk: 8 });
    const n = addon.testing.chunkedLogprobDebug({ ...args, gradEntropy: zero, naive: true });
    expect(maxAbsDiff(c.gradHidden, n.gradHidden)).toBeLessThan(1e-5);
    expect(maxAbsDiff(c.gradWeight, n.gradWeight)).toBeLessThan(1e-5);
  });

  it('rejects bad shapes', () => {
    expect(() => addon.testing.chunkedLogprobDebug({ ...args, chunk: 0 })).toThrow(/chunk/);
    expect(() =>
      addon.testing.chunkedLogprobDebug({
        ...args,
        targets: Int32Array.from([V]),
        gradLogp: new Float32Array(1),
        gradEntropy: new Float32Array(1),
        hidden: hidden.subarray(0, H),
      }),
    ).toThrow(/targets/);
  });
});

const tiny = tinyNativeConfig;

describe('activation checkpointing', () => {
  for (const tie of [true, false]) {
    it(`gives the same loss and gradients as the plain forward (${tie ? 'tied' : 'untied'} lm_head)`, async () => {
      const r = rng(3);
      const seqLens = Int32Array.from([9, 5, 12]);
      const T = 26;
      const tokens = Int32Array.from({ length: T }, () => Math.floor(r() * 64));
      const responseMask = Uint8Array.from({ length: T }, (_, i) =>
        i === 0 || i === 9 || i === 14 || i % 4 === 1 ? 0 : 1,
      );
      const advantages = Float32Array.from({ length: T }, (_, i) => (i < 9 ? 1 : i < 14 ? -1 : 0.5));
      const grads: { name: string; grad: Float32Array }[][] = [];
      const losses: number[] = [];
      for (const checkpointLayers of [false, true]) {
        const p = new addon.Policy(tiny(tie), { device: 'cpu', dtype: 'float32' });
        await p.initRandom(11, 0.1);
        const t = new addon.Trainer(p, { checkpointLayers, logprobChunk: 7 });
        const old = await t.logprobs(tokens, seqLens, responseMask);
        const oldLogprobs = old.logprobs.map((x, i) => x - 0.1 * Math.sin(i)); // ratios away from 1
        const m = await t.trainMicroBatch({
          tokens,
          seqLens,
          responseMask,
          advantages,
          oldLogprobs,
          anchorLogprobs: [old.logprobs],
          loss: { name: 'gtr', sigma: 0.3, beta: 2, entropyCoef: 0.01 },
          denominators: { tokens: 20, sequences: 3 },
        });
        losses.push(m.loss);
        grads.push(await t.gradients());
        t.dispose();
        p.dispose();
      }
      expect(losses[1]).toBe(losses[0]);
      let checked = 0;
      for (let i = 0; i < grads[0]!.length; i++) {
        const a = grads[0]![i]!;
        const b = grads[1]![i]!;
        expect(b.name).toBe(a.name);
        const scale = Math.max(1e-3, ...Array.from(a.grad, Math.abs));
        expect(maxAbsDiff(a.grad, b.grad) / scale, a.name).toBeLessThan(1e-5);
        if (a.grad.some((x) => x !== 0)) checked++;
      }
      expect(checked).toBe(grads[0]!.length); // every parameter (lm_head / embeddings included) got a gradient
    });
  }
});
