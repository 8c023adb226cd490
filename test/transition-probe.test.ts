// The transition experiment's primary measure (src/transition/probe.ts) against brute force: on a
// briefly warmed-up tiny model (so the probabilities are far from uniform and a token misaligned
// by one position would show), the exact probability of each mode's format prefix equals
// - the product of softmax probabilities that Hugging Face transformers computes in float64 from
//   the same checkpoint, prompt by prompt (test/python/transition_probe_reference.py), and
// - the sum of `Policy.score`'s per-token log-probs (a second native path) over prompt + prefix.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Policy } from '../src/policy.js';
import { RecipeSchema } from '../src/recipe/index.js';
import { trainerEngine } from '../src/rl/adapters.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { formatPrefix, modeProbabilities, modeProbe, prefixLogprobs } from '../src/transition/probe.js';
import { warmStart, warmStartKey } from '../src/transition/run.js';
import { generateTransitionTask } from '../src/transition/task.js';
import { repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';
import { scratchDir } from './helpers/scratch.js';

const hf = pythonHas(['torch', 'transformers']);
if (!hf.ok) console.warn(`skipping the transformers cross-check of the transition probe: ${hf.why}`);

const root = scratchDir('gtr-transition-probe-');
const W = {
  seed: 3,
  trainRows: 64,
  heldOut: 6,
  shareB: 0.3,
  hidden: 32,
  layers: 1,
  sftSteps: 40,
  sftBatch: 16,
  sftLr: 3e-3,
};
let dir = '';
let tokenizer: Tokenizer;
let policy: Policy;
let probe: ReturnType<typeof modeProbe>;

beforeAll(async () => {
  const logs: string[] = [];
  dir = await warmStart(root, W, (l) => logs.push(l));
  expect(logs).toHaveLength(1);
  // Cached: a second call builds nothing.
  expect(await warmStart(root, W, (l) => logs.push(l))).toBe(dir);
  expect(logs).toHaveLength(1);
  expect(dir.endsWith(warmStartKey(W))).toBe(true);
  const modelDir = join(dir, 'sft', 'model');
  tokenizer = await Tokenizer.fromDir(modelDir);
  policy = await Policy.load(modelDir, { device: 'cpu', dtype: 'float32' });
  probe = modeProbe(tokenizer, generateTransitionTask({ train: 64, heldOut: 6, shareB: 0.3, seed: 3 }).heldOut);
}, 120_000);

describe('the format prefixes', () => {
  it('are the tokens before the number: "Answer: " and "#### "', () => {
    expect(tokenizer.decode([...formatPrefix(tokenizer, 'A')])).toBe('Answer: ');
    expect(tokenizer.decode([...formatPrefix(tokenizer, 'B')])).toBe('#### ');
    expect(formatPrefix(tokenizer, 'B')).toHaveLength(5);
  });
});

describe('exact mode probabilities', () => {
  it('equal the sum of Policy.score log-probs over prompt + prefix', async () => {
    const trainer = trainerEngine(policy, undefined, RecipeSchema.parse({}));
    try {
      const lp = await prefixLogprobs(trainer, probe);
      for (const m of ['A', 'B'] as const) {
        for (let i = 0; i < probe.prompts.length; i++) {
          const p = probe.prompts[i]!;
          const s = await policy.score([...p, ...probe.prefix[m]]);
          const ref = s.slice(p.length);
          expect(lp[m][i]!.length).toBe(ref.length);
          lp[m][i]!.forEach((v, k) => expect(v).toBeCloseTo(ref[k]!, 4));
        }
      }
      const mp = await modeProbabilities(trainer, probe);
      // The warm-up moved the model off uniform (1/161 per token): both formats are likelier than chance.
      expect(mp.first.A).toBeGreaterThan(5 / 161);
      expect(mp.seq.A + mp.seq.B).toBeLessThanOrEqual(1 + 1e-6);
    } finally {
      trainer.dispose();
    }
  });

  it.skipIf(!hf.ok)('equal the product of transformers softmax probabilities (float64)', async () => {
    const trainer = trainerEngine(policy, undefined, RecipeSchema.parse({}));
    try {
      const mp = await modeProbabilities(trainer, probe);
      const lp = await prefixLogprobs(trainer, probe);
      const ref = JSON.parse(
        execFileSync(python, [join(repoRoot, 'test', 'python', 'transition_probe_reference.py')], {
          input: JSON.stringify({
            model: join(dir, 'sft', 'model'),
            prompts: probe.prompts.map((p) => [...p]),
            prefixes: { A: [...probe.prefix.A], B: [...probe.prefix.B] },
          }),
          encoding: 'utf8',
          timeout: 300_000,
        }),
      ) as { first: Record<'A' | 'B', number[]>; seq: Record<'A' | 'B', number[]> };
      for (const m of ['A', 'B'] as const) {
        probe.prompts.forEach((_, i) => {
          const row = lp[m][i]!;
          const seq = Math.exp(row.reduce((a, b) => a + b, 0));
          expect(Math.abs(Math.log(seq) - Math.log(ref.seq[m][i]!))).toBeLessThan(1e-4);
          expect(Math.exp(row[0]!)).toBeCloseTo(ref.first[m][i]!, 5);
        });
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        expect(mp.seq[m]).toBeCloseTo(mean(ref.seq[m]), 5);
        expect(mp.first[m]).toBeCloseTo(mean(ref.first[m]), 5);
      }
    } finally {
      trainer.dispose();
    }
  });
});
