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
import { lrAt } from '../src/train/schedule.js';
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

  it('the learning-rate schedule runs to its end when empty mini-batches are dropped', async () => {
    // Issue 32: 8 mini-batches of 4 sequences run 4 updates a step, but the cosine schedule counted 8
    // per step, so it stopped halfway. The updates that run are spread over the planned positions.
    const recipe = loadRecipe(join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'), [
      'train.lr=1e-3',
      'train.schedule=cosine',
      'train.warmup_steps=0',
      'train.steps=2',
      'train.epochs_per_step=1',
      'train.mini_batches_per_epoch=8',
    ]);
    const policy = await Policy.load(parityDir('tied'));
    const engine = trainerEngine(policy, undefined, recipe);
    const settings: UpdateSettings = {
      epochs: 1,
      miniBatchesPerEpoch: 8,
      loss: lossConfig(recipe.algorithm.loss),
      anchor: 'mixture',
      useReference: false,
      seed: 1,
    };
    const lrs: number[] = [];
    for (const step of [1, 2]) {
      const res = await updatePolicy(engine, samples(4), settings, step);
      expect(res.optimizerSteps).toBe(4);
      lrs.push(...res.steps.map((m) => m.lr as number));
    }
    const schedule = { lr: 1e-3, kind: 'cosine' as const, warmupSteps: 0, totalSteps: 16 };
    // Planned positions 0..15; the 4 updates of each step sit at every second one, ending at 15.
    const want = [1, 3, 5, 7, 9, 11, 13, 15].map((k) => lrAt(k, schedule));
    lrs.forEach((lr, i) => expect(lr).toBeCloseTo(want[i]!, 12));
    expect(lrs[7]).toBeLessThan(0.01 * 1e-3); // the cosine floor, not its midpoint
    engine.dispose();
    policy.dispose();
  });

  it('averages the actor metrics over the applied updates only, not counting skipped ones as 0', async () => {
    // Issue 32: with 2 of 4 updates skipped, actor/ratio/mean read 0.5 and the entropy half its value.
    const { policy, engine, settings } = await setup(1e-3);
    const orig = engine.trainMiniBatch;
    let updates = 0;
    const origStep = engine.step;
    engine.step = (p) => (updates++, origStep(p));
    // Updates 0 and 2 (the first mini-batch of each epoch) get a non-finite loss, so they are skipped.
    engine.trainMiniBatch = (mb, loss) =>
      orig(updates % 2 === 0 ? { ...mb, advantages: mb.advantages.map(() => NaN) } : mb, loss);
    const res = await updatePolicy(engine, samples(8), { ...settings, epochs: 2 }, 1);
    expect(res.optimizerSteps).toBe(4);
    expect(res.skippedSteps).toBe(2);
    const applied = res.steps.filter((m) => m.skipped !== true);
    expect(applied).toHaveLength(2);
    for (const k of ['ratioMean', 'entropy']) {
      const want = applied.reduce((a, m) => a + (m[k] as number), 0) / applied.length;
      expect(want).toBeGreaterThan(0.1);
      expect(res.metrics[k], k).toBeCloseTo(want, 10);
    }
    engine.dispose();
    policy.dispose();
  });
});
