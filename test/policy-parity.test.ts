// The native Qwen3 forward against logits transformers produced for the same tiny checkpoints
// (test/fixtures/make_parity_fixture.py), on a packed batch of different lengths.
import { describe, expect, it } from 'vitest';
import { Policy } from '../src/policy.js';
import { parityDir } from './helpers/paths.js';
import { maxAbsDiff, pack, parityReference } from './helpers/parity.js';

describe.each(['tied', 'untied'] as const)('logits parity with transformers (%s lm_head)', (name) => {
  it('matches in fp32 within 1e-4 max abs on a batch of different lengths', async () => {
    const ref = parityReference(name);
    const policy = await Policy.load(parityDir(name), { device: 'cpu', dtype: 'float32' });
    try {
      const { tokens, seqLens } = pack(ref.sequences);
      const logits = await policy.native.forwardLogits(tokens, seqLens);
      expect(logits.length).toBe(ref.logits_shape[0] * ref.logits_shape[1]);
      const diff = maxAbsDiff(logits, ref.logits);
      expect(diff).toBeLessThan(1e-4);
    } finally {
      policy.dispose();
    }
  });

  it('scores each sequence alone exactly as inside the packed batch', async () => {
    const ref = parityReference(name);
    const policy = await Policy.load(parityDir(name));
    try {
      const { tokens, seqLens } = pack(ref.sequences);
      const packed = await policy.native.tokenLogprobs(tokens, seqLens);
      let offset = 0;
      for (const seq of ref.sequences) {
        const alone = await policy.score(seq);
        for (let i = 1; i < seq.length; i++) expect(Math.abs(alone[i] - packed[offset + i])).toBeLessThan(1e-5);
        expect(packed[offset]).toBe(0);
        offset += seq.length;
      }
    } finally {
      policy.dispose();
    }
  });

  it('token log-probs equal log-softmax of the reference logits', async () => {
    const ref = parityReference(name);
    const policy = await Policy.load(parityDir(name));
    try {
      const seq = ref.sequences[3];
      const lp = await policy.score(seq);
      const V = ref.vocab_size;
      let row = ref.sequences[0].length + ref.sequences[1].length + ref.sequences[2].length;
      for (let i = 1; i < seq.length; i++, row++) {
        const logits = ref.logits.subarray(row * V, (row + 1) * V);
        const m = Math.max(...logits);
        const lse = m + Math.log(logits.reduce((s, x) => s + Math.exp(x - m), 0));
        expect(Math.abs(lp[i] - (logits[seq[i]] - lse))).toBeLessThan(1e-4);
      }
      expect(Number.isNaN(lp[0])).toBe(true);
    } finally {
      policy.dispose();
    }
  });
});
