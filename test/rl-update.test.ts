// The loop's update phase (src/rl/update.ts) on the real trainer: ratios are exactly 1 before the
// first update, epoch e trains with e snapshot anchors (plus the behaviour policy: e + 1), and a
// few GTR epochs raise the log-probs of positive-advantage responses and lower negative ones.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Policy } from '../src/policy.js';
import { loadRecipe } from '../src/recipe/index.js';
import { trainerEngine } from '../src/rl/adapters.js';
import type { TrainSample } from '../src/rl/batch.js';
import { lossConfig } from '../src/train/loss-config.js';
import { updatePolicy, type UpdateSettings } from '../src/rl/update.js';
import { parityDir, repoRoot } from './helpers/paths.js';

function samples(n: number): TrainSample[] {
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648), x / 2147483648);
  return Array.from({ length: n }, (_, i) => {
    const prompt = Int32Array.from({ length: 3 + (i % 3) }, () => Math.floor(rnd() * 512));
    const resp = Int32Array.from({ length: 4 + (i % 4) }, () => Math.floor(rnd() * 512));
    return {
      group: i >> 1,
      promptTokens: prompt,
      responseTokens: resp,
      samplerLogprobs: new Float32Array(resp.length),
      advantage: i % 2 === 0 ? 1 : -1,
    };
  });
}

async function setup(lr: number) {
  const recipe = loadRecipe(join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'), [
    `train.lr=${lr}`,
    'train.max_grad_norm=null',
    'train.weight_decay=0',
  ]);
  const policy = await Policy.load(parityDir('tied'));
  const engine = trainerEngine(policy, undefined, recipe);
  const settings: UpdateSettings = {
    epochs: 3,
    miniBatchesPerEpoch: 2,
    loss: lossConfig(recipe.algorithm.loss),
    anchor: 'mixture',
    useReference: false,
    seed: 1,
  };
  return { policy, engine, settings };
}

async function meanLogprob(policy: Policy, s: TrainSample[], sign: number): Promise<number> {
  let sum = 0,
    n = 0;
  for (const smp of s.filter((x) => Math.sign(x.advantage) === sign)) {
    const lp = await policy.score([...smp.promptTokens, ...smp.responseTokens]);
    for (let j = smp.promptTokens.length; j < lp.length; j++) {
      sum += lp[j];
      n++;
    }
  }
  return sum / n;
}

describe('update phase', () => {
  it('starts at ratio exactly 1 and passes epoch e exactly e snapshot anchors', async () => {
    const { policy, engine, settings } = await setup(1e-3);
    const seen: number[] = [];
    const orig = engine.trainMiniBatch;
    engine.trainMiniBatch = (mb, loss) => {
      seen.push(mb.anchorLogprobs.length);
      return orig(mb, loss);
    };
    const res = await updatePolicy(engine, samples(8), settings, 1);
    expect(seen).toEqual([0, 0, 1, 1, 2, 2]);
    expect(res.optimizerSteps).toBe(6);
    expect(res.steps[0].ratioMin).toBe(1);
    expect(res.steps[0].ratioMax).toBe(1);
    expect(res.steps[0].penaltyMean).toBe(0);
    // Epoch 1's first step: the ratio to its own snapshot is 1, to the behaviour policy it is not,
    // so the mixture penalty is positive.
    expect(res.steps[2].penaltyMean as number).toBeGreaterThan(0);
    expect(res.skippedSteps).toBe(0);
    engine.dispose();
    policy.dispose();
  });

  it('raises positive-advantage log-probs and lowers negative ones', async () => {
    const { policy, engine, settings } = await setup(3e-3);
    const s = samples(8);
    const pos0 = await meanLogprob(policy, s, 1),
      neg0 = await meanLogprob(policy, s, -1);
    await updatePolicy(engine, s, settings, 1);
    expect(await meanLogprob(policy, s, 1)).toBeGreaterThan(pos0 + 0.05);
    expect(await meanLogprob(policy, s, -1)).toBeLessThan(neg0 - 0.05);
    engine.dispose();
    policy.dispose();
  });
});
