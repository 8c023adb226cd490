/**
 * Training gradients on CUDA equal the CPU ones (fp32, the tiny parity fixtures): same batch, GTR
 * loss with a non-trivial old log-prob offset, with and without activation checkpointing; relative
 * L2 error per parameter < 1e-4 (fp32 on different devices: summation order differs). Skipped when
 * the addon sees no CUDA device.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Policy } from '../src/policy.js';
import { Trainer } from '../src/train/index.js';
import { gpuReady } from './helpers/gpu.js';
import { randomTrainBatch } from './helpers/tiny.js';
import { parityDir } from './helpers/paths.js';

const makeBatch = (n: number, vocab: number, seed: number) =>
  randomTrainBatch({ n, seed, vocab, length: (i) => 6 + ((i * 5) % 11), negative: -0.5 });

describe.skipIf(!gpuReady({ kernels: false }))('training on CUDA', () => {
  const owned: { dispose(): void }[] = [];
  afterAll(() => owned.reverse().forEach((o) => o.dispose()));

  for (const checkpointLayers of [false, true]) {
    it(`GTR gradients on CUDA equal the CPU ones (tiny parity model, fp32, checkpointLayers ${checkpointLayers})`, async () => {
      const grads: Map<string, Float32Array>[] = [];
      for (const device of ['cpu', 'cuda'] as const) {
        const p = await Policy.load(parityDir('tied'), { device, dtype: 'float32' });
        owned.push(p);
        const t = new Trainer(p.native, { schedule: { lr: 1e-3 }, tokensPerMicroBatch: 40, checkpointLayers });
        owned.push(t);
        const b0 = makeBatch(6, p.config.native.vocabSize, 7);
        const old = (await t.logprobs(b0)).logprobs.map((x, i) => x + 0.1 * Math.sin(i));
        await t.accumulate({ ...b0, oldLogprobs: old }, { name: 'gtr' });
        grads.push(new Map((await t.native.gradients()).map((g) => [g.name, g.grad])));
      }
      let worst = 0;
      for (const [name, a] of grads[0]!) {
        const b = grads[1]!.get(name)!;
        expect(b.length).toBe(a.length);
        let num = 0,
          den = 0;
        for (let j = 0; j < a.length; j++) {
          num += (a[j]! - b[j]!) ** 2;
          den += a[j]! ** 2;
        }
        const rel = Math.sqrt(num / Math.max(den, 1e-30));
        worst = Math.max(worst, rel);
        expect(rel, name).toBeLessThan(1e-4);
      }
      console.log(
        `[train] CUDA vs CPU gradients (checkpointLayers ${checkpointLayers}): worst relative L2 error ${worst.toExponential(2)}`,
      );
    });
  }
});
