/**
 * Rollout engine, greedy and cache correctness (CPU fp32, the parity fixtures): transformers'
 * greedy outputs, greedy by repeated full forwards without a cache, per-step logits against a
 * full forward, batch-composition independence, stop tokens and max length.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Policy } from '../src/policy.js';
import { generate } from '../src/rollout/index.js';
import { parityDir } from './helpers/paths.js';
import { maxAbsDiff, parityReference } from './helpers/parity.js';

const MIXED = [[1, 17, 300], [250, 3, 3, 3, 77, 180, 2, 91, 400], [42], [100, 200, 300, 400, 500, 12, 13]];

async function greedyNoCache(policy: Policy, prompt: number[], steps: number, vocab: number): Promise<number[]> {
  const seq = [...prompt];
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const logits = await policy.native.forwardLogits(Int32Array.from(seq), Int32Array.of(seq.length));
    const row = logits.subarray((seq.length - 1) * vocab, seq.length * vocab);
    let best = 0;
    for (let v = 1; v < vocab; v++) if (row[v] > row[best]) best = v;
    out.push(best);
    seq.push(best);
  }
  return out;
}

for (const name of ['tied', 'untied'] as const) {
  describe(`generate greedy (${name})`, () => {
    let policy: Policy;
    const ref = parityReference(name);
    const V = ref.vocab_size;
    beforeAll(async () => {
      policy = await Policy.load(parityDir(name), { device: 'cpu', dtype: 'float32' });
    });
    afterAll(() => policy?.dispose());

    it("equals transformers' greedy generate and greedy by full forwards", async () => {
      const res = await generate(policy, ref.greedy.prompts, { temperature: 0, maxNewTokens: ref.greedy.new_tokens });
      for (let i = 0; i < ref.greedy.prompts.length; i++) {
        expect(Array.from(res[i]![0]!.tokens)).toEqual(ref.greedy.outputs[i]);
        expect(res[i]![0]!.finishReason).toBe('length');
        const nocache = await greedyNoCache(policy, ref.greedy.prompts[i]!, ref.greedy.new_tokens, V);
        expect(Array.from(res[i]![0]!.tokens)).toEqual(nocache);
      }
    });

    it('each step logits equal the full-forward logits within 1e-4 (mixed and equal prompt lengths)', async () => {
      const EQUAL = [
        [5, 6, 7, 8],
        [9, 10, 11, 12],
        [13, 14, 15, 16],
      ];
      for (const prompts of [MIXED, EQUAL]) await checkStepLogits(prompts);
    });
    async function checkStepLogits(prompts: number[][]): Promise<void> {
      const res = await generate(policy, prompts, {
        temperature: 0,
        maxNewTokens: 70,
        returnLogits: true,
        maxNumSeqs: 3,
      });
      for (let i = 0; i < prompts.length; i++) {
        const r = res[i]![0]!;
        const prompt = prompts[i]!;
        const seq = [...prompt, ...Array.from(r.tokens).slice(0, -1)];
        const full = await policy.native.forwardLogits(Int32Array.from(seq), Int32Array.of(seq.length));
        const rows = full.subarray((prompt.length - 1) * V);
        expect(r.logits!.length).toBe(r.tokens.length * V);
        expect(maxAbsDiff(r.logits!, rows)).toBeLessThan(1e-4);
      }
    }

    it('greedy tokens do not depend on the number of slots (1 vs 8)', async () => {
      const prompts = [...MIXED, [7, 8, 9, 10, 11], [300, 301]];
      const a = await generate(policy, prompts, { temperature: 0, maxNewTokens: 16, maxNumSeqs: 1 });
      const b = await generate(policy, prompts, { temperature: 0, maxNewTokens: 16, maxNumSeqs: 8 });
      expect(a.map((g) => Array.from(g[0]!.tokens))).toEqual(b.map((g) => Array.from(g[0]!.tokens)));
    });

    it("stop tokens end a sample with finishReason 'stop' (stop token included)", async () => {
      // tied prompt 0 greedily produces 91, 418, 418, 137, 176, 2, ...; stop at its 4th distinct token.
      const out = ref.greedy.outputs[0]!;
      const stop = out[3]!;
      const cut = out.indexOf(stop) + 1;
      const res = await generate(policy, [ref.greedy.prompts[0]!, ref.greedy.prompts[1]!], {
        temperature: 0,
        maxNewTokens: 12,
        stopTokenIds: [stop],
      });
      expect(Array.from(res[0]![0]!.tokens)).toEqual(out.slice(0, cut));
      expect(res[0]![0]!.finishReason).toBe('stop');
      const other = res[1]![0]!;
      if (!ref.greedy.outputs[1]!.includes(stop)) {
        expect(other.finishReason).toBe('length');
        expect(other.tokens.length).toBe(12);
      }
    });

    it('n > 1 greedy samples are identical and prompt-major', async () => {
      const res = await generate(policy, MIXED, { temperature: 0, n: 3, maxNewTokens: 6, maxNumSeqs: 5 });
      expect(res.length).toBe(MIXED.length);
      for (let i = 0; i < MIXED.length; i++) {
        expect(res[i]!.length).toBe(3);
        for (let s = 0; s < 3; s++) {
          expect(res[i]![s]!.promptIndex).toBe(i);
          expect(res[i]![s]!.sampleIndex).toBe(s);
          expect(Array.from(res[i]![s]!.tokens)).toEqual(Array.from(res[i]![0]!.tokens));
          expect(res[i]![s]!.timings.tokens).toBe(6);
        }
      }
    });
  });
}
