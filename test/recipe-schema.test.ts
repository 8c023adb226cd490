import { describe, expect, it } from 'vitest';
import { describeRecipe, formatRecipeHelp, loadRecipe, RecipeSchema } from '../src/recipe/index.js';

describe('recipe schema defaults', () => {
  it('an empty recipe resolves to every default', () => {
    const r = loadRecipe(null);
    expect(r).toEqual(RecipeSchema.parse({}));
    expect(r.model).toMatchObject({ path: 'Qwen/Qwen3-1.7B-Base', chat_template: false, enable_thinking: false });
    expect(r.data).toMatchObject({
      train: 'dapo-math-17k',
      template: 'dapo',
      data_dir: null,
      drop_conflicts: true,
      limit: null,
    });
    expect(r.rollout).toMatchObject({ samples_per_prompt: 8, temperature: 1, top_p: 1, top_k: 0, stop: [] });
    expect(r.reward).toMatchObject({ grader: 'dapo', overlong: { enabled: false } });
    expect(r.algorithm).toMatchObject({
      name: 'gtr',
      advantage: 'grpo',
      dynamic_sampling: { enabled: false, mode: 'drop' },
      loss: {
        clip_ratio_low: 0.2,
        clip_ratio_high: 0.28,
        dual_clip: null,
        aggregation: 'token-mean',
        penalty: 'gtr',
        beta_mode: 'fixed',
        kl_ref: { coef: 0, estimator: 'k3' },
      },
    });
    expect(r.train).toMatchObject({ steps: 500, lr: 1e-6, schedule: 'constant', adam_betas: [0.9, 0.999] });
    expect(r.eval).toMatchObject({ n: 4, k: [1, 4], benchmarks: ['math500', 'olympiadbench', 'minerva', 'amc23'] });
    expect(r.checkpoint).toEqual({ every_steps: 100, keep_last: 2 });
  });

  it('a partial section keeps the other defaults', () => {
    const r = RecipeSchema.parse({ train: { lr: 3e-6 }, algorithm: { loss: { sigma: 0.5 } } });
    expect(r.train.lr).toBe(3e-6);
    expect(r.train.steps).toBe(500);
    expect(r.algorithm.loss.sigma).toBe(0.5);
    expect(r.algorithm.loss.beta).toBe(1);
  });

  it('penalty defaults by algorithm and rejects mismatches', () => {
    expect(RecipeSchema.parse({ algorithm: { name: 'grpo' } }).algorithm.loss.penalty).toBe('none');
    expect(
      RecipeSchema.parse({ algorithm: { name: 'grpo', loss: { penalty: 'pearson' } } }).algorithm.loss.penalty,
    ).toBe('pearson');
    expect(RecipeSchema.safeParse({ algorithm: { name: 'grpo', loss: { penalty: 'gtr' } } }).success).toBe(false);
    expect(RecipeSchema.safeParse({ algorithm: { name: 'gtr', loss: { penalty: 'kl' } } }).success).toBe(false);
  });
});

describe('describeRecipe', () => {
  const docs = describeRecipe();

  it('documents every key with its default', () => {
    const byKey = new Map(docs.map((d) => [d.key, d]));
    expect(byKey.get('train.lr')).toMatchObject({ type: 'number', default: 1e-6, section: false });
    expect(byKey.get('train.steps')).toMatchObject({ type: 'integer', default: 500 });
    expect(byKey.get('algorithm.loss.aggregation')!.type).toBe(
      '"token-mean" | "seq-mean-token-mean" | "seq-mean-token-sum"',
    );
    expect(byKey.get('algorithm.loss.kl_ref.estimator')).toMatchObject({ default: 'k3' });
    expect(byKey.get('algorithm.loss')).toMatchObject({ section: true });
    expect(byKey.get('reward.grader')!.type).toContain('{module, export, batched}');
    for (const d of docs) expect(d.doc, d.key).not.toBe('');
    for (const s of ['model', 'data', 'rollout', 'reward', 'algorithm', 'train', 'eval', 'checkpoint', 'run'])
      expect(byKey.get(s)?.section).toBe(true);
  });

  it('formats as indented text', () => {
    const text = formatRecipeHelp();
    expect(text).toMatch(/^model:/);
    expect(text).toContain('\n    sigma: 0.2  # (number) Gaussian kernel width');
  });
});
