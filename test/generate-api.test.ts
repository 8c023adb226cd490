/**
 * Rollout engine API: input errors, progress, the event loop during generation, cancellation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { generate, generateWithStats } from '../src/rollout/index.js';
import { parityDir } from './helpers/paths.js';

describe('generate API (tied fixture, CPU)', () => {
  let policy: Policy;
  beforeAll(async () => {
    policy = await Policy.load(parityDir('tied'), { device: 'cpu', dtype: 'float32' });
  });
  afterAll(() => policy?.dispose());

  it('rejects an empty prompt naming its index', async () => {
    await expect(generate(policy, [[1, 2], []], { maxNewTokens: 2 })).rejects.toThrow(/prompts\[1\] is empty/);
  });
  it('rejects a token id outside the vocabulary naming prompt and position', async () => {
    await expect(generate(policy, [[1, 2, 512]], { maxNewTokens: 2 })).rejects.toThrow(
      /prompts\[0\] has token id 512 at position 2, outside the vocabulary \[0, 512\)/,
    );
    await expect(generate(policy, [[5], [1, -3]], { maxNewTokens: 2 })).rejects.toThrow(
      /prompts\[1\] has token id -3 at position 1/,
    );
    await expect(generate(policy, [Int32Array.of(7, 9999)], { maxNewTokens: 2 })).rejects.toThrow(
      /prompts\[0\] has token id 9999 at position 1/,
    );
  });
  it('rejects bad options by name', async () => {
    const p = [[1, 2]];
    await expect(generate(policy, p, { n: 0 })).rejects.toThrow(/option n must be an integer >= 1/);
    await expect(generate(policy, p, { maxNewTokens: 0 })).rejects.toThrow(/option maxNewTokens/);
    await expect(generate(policy, p, { topP: 0 })).rejects.toThrow(/topP must be in \(0, 1\]/);
    await expect(generate(policy, p, { topP: 1.5 })).rejects.toThrow(/topP/);
    await expect(generate(policy, p, { minP: -0.1 })).rejects.toThrow(/minP/);
    await expect(generate(policy, p, { temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(generate(policy, p, { topK: 1.5 })).rejects.toThrow(/topK/);
    await expect(generate(policy, p, { stopTokenIds: [600] })).rejects.toThrow(/stopTokenIds/);
  });
  it('the raw native call throws synchronously on bad input', () => {
    expect(() => native().generate(policy.native, [new Int32Array(0)], {})).toThrow(/prompts\[0\] is empty/);
  });

  it('reports progress and keeps the event loop running', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const reports: { finishedSequences: number; totalSequences: number; generatedTokens: number }[] = [];
    try {
      const prompts = Array.from({ length: 6 }, (_, i) => [1 + i, 2 + i, 3 + i]);
      const { rollouts, stats } = await generateWithStats(policy, prompts, {
        n: 4,
        maxNewTokens: 60,
        seed: 3,
        maxNumSeqs: 8,
        onProgress: (p) => reports.push(p),
      });
      expect(rollouts.length).toBe(6);
      expect(stats.generatedTokens).toBe(6 * 4 * 60);
      expect(stats.slots).toBe(8);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(2);
    expect(reports.length).toBeGreaterThan(0);
    const last = reports[reports.length - 1]!;
    expect(last).toEqual({ finishedSequences: 24, totalSequences: 24, generatedTokens: 1440 });
  });

  it('an AbortSignal cancels: the promise rejects and the policy stays usable', async () => {
    const ac = new AbortController();
    let progressed = false;
    const run = generate(
      policy,
      [
        [1, 2, 3],
        [4, 5],
      ],
      {
        n: 8,
        maxNewTokens: 4000,
        signal: ac.signal,
        onProgress: () => {
          if (!progressed) {
            progressed = true;
            ac.abort();
          }
        },
      },
    );
    await expect(run).rejects.toThrow('generation cancelled');
    expect(progressed).toBe(true);
    const again = await generate(policy, [[1, 17, 300]], { temperature: 0, maxNewTokens: 3 });
    expect(Array.from(again[0]![0]!.tokens)).toEqual([91, 418, 418]);
  });
  it('an already-aborted signal rejects without starting', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(generate(policy, [[1]], { signal: ac.signal })).rejects.toThrow('generation cancelled');
  });
  it('the native handle cancel() rejects the promise', async () => {
    const h = native().generate(policy.native, [Int32Array.of(1, 2)], { n: 4, maxNewTokens: 4000 });
    setTimeout(() => h.cancel(), 20);
    await expect(h.promise).rejects.toThrow('generation cancelled');
  });
  it("maxNewTokens gives finishReason 'length' with exactly that many tokens; timings filled", async () => {
    const res = await generate(policy, [[9, 8, 7]], { n: 2, maxNewTokens: 5, seed: 1 });
    for (const r of res[0]!) {
      expect(r.finishReason).toBe('length');
      expect(r.tokens.length).toBe(5);
      expect(r.logprobs.length).toBe(5);
      expect(r.timings.tokens).toBe(5);
      expect(r.timings.decodeMs).toBeGreaterThanOrEqual(0);
      for (const x of r.logprobs) expect(x).toBeLessThanOrEqual(0);
    }
  });
});
