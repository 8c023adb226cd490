// The native boundary: async workers keep the event loop running, native exceptions become JS
// Errors with their message, bad input is refused with a clear message, dispose() frees the model.
import { describe, expect, it } from 'vitest';
import { presetConfig } from '../src/checkpoint/index.js';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { parityDir } from './helpers/paths.js';

describe('native async calls', () => {
  it('keeps the event loop running during a long forward', async () => {
    // A model big enough that one forward takes a good fraction of a second on 2 CPU cores.
    const cfg = {
      ...presetConfig('tiny'),
      vocab_size: 4096,
      hidden_size: 512,
      intermediate_size: 2048,
      num_hidden_layers: 6,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 64,
    };
    const policy = await Policy.random(cfg, 3);
    try {
      const T = 1536;
      const tokens = Int32Array.from({ length: T }, (_, i) => (i * 7919) % 4096);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const t0 = performance.now();
      await policy.native.tokenLogprobs(tokens, Int32Array.of(T));
      const elapsed = performance.now() - t0;
      clearInterval(timer);
      // The timer fires throughout the call (a blocked loop would give at most one tick).
      expect(elapsed).toBeGreaterThan(50);
      expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 5 / 4));
    } finally {
      policy.dispose();
    }
  });

  it('sleepAsync resolves off the JS thread', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await native().testing.sleepAsync(120);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);
  });
});

describe('native accessors', () => {
  it('numParameters counts every parameter element once (tied and untied), device and dtype as loaded', async () => {
    for (const tie of [true, false]) {
      const cfg = { ...presetConfig('tiny'), tie_word_embeddings: tie };
      const p = await Policy.random(cfg, 1, { device: 'cpu', dtype: 'bfloat16' });
      try {
        const H = cfg.hidden_size,
          I = cfg.intermediate_size,
          V = cfg.vocab_size,
          D = cfg.head_dim;
        const q = cfg.num_attention_heads * D,
          kv = cfg.num_key_value_heads * D;
        // per layer: q, k, v, o projections, q/k norms, gate/up/down, two RMSNorms
        const layer = H * q + 2 * H * kv + q * H + 2 * D + 3 * H * I + 2 * H;
        const expected = V * H + cfg.num_hidden_layers * layer + H + (tie ? 0 : V * H);
        expect(p.native.numParameters).toBe(expected);
        expect(p.native.device).toBe('cpu');
        expect(p.native.dtype).toBe('bfloat16');
      } finally {
        p.dispose();
      }
    }
  });
});

describe('native errors', () => {
  it('rejects ids outside the vocabulary naming the position', async () => {
    const policy = await Policy.load(parityDir('tied'));
    try {
      await expect(policy.native.forwardLogits(Int32Array.of(1, 2, 999), Int32Array.of(3))).rejects.toThrow(
        /token id 999 at position 2 is outside the vocabulary \[0, 512\)/,
      );
      await expect(policy.native.forwardLogits(Int32Array.of(1, 2), Int32Array.of(3))).rejects.toThrow(
        /seqLens sum to 3 but tokens has 2/,
      );
      await expect(policy.score([])).rejects.toThrow(/empty/);
    } finally {
      policy.dispose();
    }
  });

  it('turns a libtorch exception into a JS Error with its message', () => {
    expect(
      () => new (native().Policy)({ ...presetConfigNative(), headDim: 15 }, { device: 'cpu', dtype: 'float32' }),
    ).toThrow(/head_dim must be even/);
    expect(() => new (native().Policy)(presetConfigNative(), { device: 'cpu', dtype: 'float16' as never })).toThrow(
      /dtype must be 'float32' or 'bfloat16'/,
    );
    expect(() => new (native().Policy)(presetConfigNative(), { device: 'tpu', dtype: 'float32' })).toThrow();
  });

  it('refuses byte ranges past the end of a file, naming file and tensor', async () => {
    const np = new (native().Policy)(presetConfigNative(), { device: 'cpu', dtype: 'float32' });
    const file = `${parityDir('tied')}/model.safetensors`;
    await expect(
      np.loadTensors([{ name: 'model.norm.weight', file, dtype: 'F32', shape: [64], offset: 10_000_000, length: 256 }]),
    ).rejects.toThrow(
      /model\.safetensors: tensor 'model\.norm\.weight': bytes \[10000000, 10000256\) lie past the end of the file/,
    );
    await expect(
      np.loadTensors([{ name: 'model.norm.weight', file, dtype: 'F32', shape: [64], offset: 8, length: 255 }]),
    ).rejects.toThrow(/byte length 255 != shape x dtype size 256/);
    await expect(
      np.loadTensors([{ name: 'model.nope', file, dtype: 'F32', shape: [64], offset: 8, length: 256 }]),
    ).rejects.toThrow(/no parameter named 'model.nope'/);
    np.dispose();
  });

  it('is unusable after dispose, with a clear error', async () => {
    const policy = await Policy.load(parityDir('tied'));
    const np = policy.native;
    policy.dispose();
    expect(() => policy.native).toThrow(/disposed/);
    expect(() => np.parameterInfo()).toThrow(/disposed/);
    await expect(np.tokenLogprobs(Int32Array.of(1, 2), Int32Array.of(2))).rejects.toThrow(/disposed/);
  });
});

function presetConfigNative() {
  return {
    vocabSize: 512,
    hiddenSize: 64,
    intermediateSize: 128,
    numHiddenLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    headDim: 16,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 256,
  };
}
