import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRecipe, parseRecipe, RecipeError, saveResolvedRecipe } from '../src/recipe/index.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Returns the RecipeError's problems for `fn`, failing if it does not throw one. */
function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RecipeError);
    return (e as RecipeError).problems;
  }
  throw new Error('expected a RecipeError');
}

function writeTmp(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gtr-recipe-')), name);
  writeFileSync(file, text);
  return file;
}

describe('loadRecipe errors name file, line and key path', () => {
  it('unknown key', () => {
    const file = writeTmp('x.yaml', 'train:\n  lr: 1.0e-6\n  steps: 3\n  learning_rate: 2\n');
    const p = problems(() => loadRecipe(file));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(
      new RegExp(
        `^${escape(file)}:4: train\\.learning_rate: unknown key \\(valid keys under train: prompts_per_step, `,
      ),
    );
  });

  it('unknown top-level section and nested key', () => {
    const p = problems(() =>
      parseRecipe('model:\n  path: m\nalgorithm:\n  loss:\n    sigmaa: 1\nextras: 1\n', 'recipes/x.yaml'),
    );
    expect(p).toContain(
      'recipes/x.yaml:5: algorithm.loss.sigmaa: unknown key (did you mean "sigma"?) (valid keys under algorithm.loss: clip_ratio_low, clip_ratio_high, dual_clip, aggregation, penalty, anchor, sigma, beta, beta_mode, kl_ref, entropy_coef, rollout_is_threshold)',
    );
    expect(p).toContain(
      'recipes/x.yaml:6: extras: unknown key (valid keys: model, data, rollout, reward, algorithm, train, eval, checkpoint, run)',
    );
  });

  it('a typo gets "did you mean" the closest key (issue 32), in the file and in --set', () => {
    expect(problems(() => parseRecipe('rollout:\n  temprature: 0.7\n', 'r.yaml'))).toEqual([
      expect.stringMatching(
        /^r\.yaml:2: rollout\.temprature: unknown key \(did you mean "temperature"\?\) \(valid keys under rollout: /,
      ),
    ]);
    expect(problems(() => parseRecipe('', 'r.yaml', ['trian.lr=1']))[0]).toMatch(
      /^--set trian\.lr=1: unknown key "trian" \(did you mean "train"\?\) \(valid keys: /,
    );
  });

  it('YAML merge keys (<<: *anchor) are resolved (issue 32); a merge of a non-mapping is named', () => {
    const r = parseRecipe(
      [
        'data:',
        '  schedule:',
        '    - &phase {name: A, steps: 2, template: dapo, grader: math}',
        '    - <<: *phase',
        '      name: B',
        '      grader: dapo',
        'train:',
        '  steps: 4',
      ].join('\n'),
      'r.yaml',
    );
    expect(r.data.schedule!.map((p) => [p.name, p.steps, p.template, p.grader])).toEqual([
      ['A', 2, 'dapo', 'math'],
      ['B', 2, 'dapo', 'dapo'],
    ]);
    expect(problems(() => parseRecipe('rollout:\n  <<: 3\n', 'r.yaml'))[0]).toMatch(/^r\.yaml: .*[Mm]erge/);
  });

  it('wrong type', () => {
    const text = ['# comment', 'model:', '  path: m', '', 'train:', '  steps: 3', '  lr: fast', ''].join('\n');
    expect(problems(() => parseRecipe(text, 'recipes/x.yaml'))).toEqual([
      'recipes/x.yaml:7: train.lr: expected number, received string',
    ]);
    expect(problems(() => parseRecipe('rollout:\n  stop: [1, "x"]\n', 'r.yaml'))).toEqual([
      'r.yaml:2: rollout.stop.0: expected string, received number',
    ]);
    expect(problems(() => parseRecipe('train:\n  schedule: linear\n', 'r.yaml'))[0]).toMatch(
      /^r\.yaml:2: train\.schedule: expected one of "constant"\|"cosine"/,
    );
    expect(problems(() => parseRecipe('train:\n  steps: 2.5\n', 'r.yaml'))[0]).toMatch(
      /^r\.yaml:2: train\.steps: expected int/,
    );
  });

  it('a section given as a scalar, YAML syntax errors, unknown datasets', () => {
    expect(problems(() => parseRecipe('train: 5\n', 'r.yaml'))).toEqual([
      'r.yaml:1: train: expected object, received number',
    ]);
    expect(problems(() => parseRecipe('train:\n  lr: [1\n', 'r.yaml'))[0]).toMatch(/^r\.yaml:\d+: YAML syntax error/);
    expect(problems(() => parseRecipe('train:\n  lr: 1\n  lr: 2\n', 'r.yaml'))[0]).toMatch(
      /^r\.yaml:3: YAML syntax error/,
    );
    expect(problems(() => parseRecipe('data:\n  train: gsm8k\n', 'r.yaml'))[0]).toMatch(
      /^r\.yaml:2: data\.train: unknown dataset "gsm8k"; valid: dapo-math-17k/,
    );
    expect(problems(() => parseRecipe('eval:\n  n: 2\n  k: [1, 4]\n', 'r.yaml'))).toEqual([
      'r.yaml:3: eval.k.1: pass@4 needs at least 4 samples but eval.n is 2',
    ]);
  });

  it('reports every problem at once', () => {
    const p = problems(() => parseRecipe('train:\n  lr: x\n  foo: 1\nrollout:\n  top_p: 2\n', 'r.yaml'));
    expect(p).toHaveLength(3);
    expect(p.some((m) => m.startsWith('r.yaml:5: rollout.top_p: Too big'))).toBe(true);
  });

  it('a missing file', () => {
    expect(problems(() => loadRecipe('/nonexistent/r.yaml'))[0]).toMatch(/^\/nonexistent\/r\.yaml: cannot read recipe/);
  });
});

describe('--set overrides', () => {
  it('numbers, booleans, null, strings, lists and nested keys', () => {
    const r = parseRecipe('train:\n  lr: 1.0e-6\n', 'r.yaml', [
      'train.lr=2e-6',
      'train.steps=7',
      'model.chat_template=true',
      'data.data_dir=null',
      'data.data_dir=../datasets',
      'run.dir=runs/a b',
      'eval.k=[1, 2]',
      'eval.benchmarks=[amc23, aime24]',
      'algorithm.loss.kl_ref.coef=0.001',
      'reward.grader.module=./my-grader.js',
    ]);
    expect(r.train.lr).toBe(2e-6);
    expect(r.train.steps).toBe(7);
    expect(r.model.chat_template).toBe(true);
    expect(r.data.data_dir).toBe('../datasets');
    expect(r.run.dir).toBe('runs/a b');
    expect(r.eval.k).toEqual([1, 2]);
    expect(r.eval.benchmarks).toEqual(['amc23', 'aime24']);
    expect(r.algorithm.loss.kl_ref).toEqual({ coef: 0.001, estimator: 'k3' });
    // A --set module path stays as given (relative to the working directory).
    expect(r.reward.grader).toEqual({ module: './my-grader.js', export: 'default', batched: false });
    expect(parseRecipe('', 'r.yaml', ['data.limit=null']).data.limit).toBeNull();
  });

  it('an unknown key names the override', () => {
    expect(problems(() => parseRecipe('', 'r.yaml', ['train.lrr=1']))).toEqual([
      '--set train.lrr=1: unknown key "train.lrr" (did you mean "lr"?) (valid keys under train: prompts_per_step, mini_batches_per_epoch, epochs_per_step, tokens_per_micro_batch, steps, lr, warmup_steps, schedule, weight_decay, adam_betas, adam_eps, max_grad_norm, activation_checkpointing, sharding, gathered_weights_budget_gib, seed, max_consecutive_skipped_steps)',
    ]);
    expect(problems(() => parseRecipe('', 'r.yaml', ['nope.x=1']))[0]).toMatch(/^--set nope\.x=1: unknown key "nope"/);
    expect(problems(() => parseRecipe('', 'r.yaml', ['train.lr.x=1']))[0]).toBe(
      '--set train.lr.x=1: unknown key "train.lr.x": train.lr is not a section',
    );
    expect(problems(() => parseRecipe('', 'r.yaml', ['train.lr']))[0]).toBe('--set train.lr: expected key.path=value');
    expect(
      problems(() => parseRecipe('reward:\n  grader: math\n', 'r.yaml', ['reward.grader.module=x.js']))[0],
    ).toMatch(/^--set reward\.grader\.module=x\.js: cannot set reward\.grader\.module/);
  });

  it('a wrongly typed override names the override, not the file', () => {
    expect(problems(() => parseRecipe('train:\n  lr: 1.0e-6\n', 'r.yaml', ['train.lr=fast']))).toEqual([
      '--set train.lr=fast: train.lr: expected number, received string',
    ]);
    expect(problems(() => parseRecipe('', 'r.yaml', ['train.activation_checkpointing=maybe']))).toEqual([
      '--set train.activation_checkpointing=maybe: train.activation_checkpointing: expected boolean, received string',
    ]);
  });
});

describe('shipped recipes', () => {
  const dir = join(repoRoot, 'recipes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('ships the paper and tiny recipes', () => {
    expect(files.sort()).toEqual(
      [
        'qwen2.5-math-1.5b-grpo-dapo.yaml',
        'qwen3-1.7b-gtr-dapo.yaml',
        'qwen3-1.7b-grpo-dapo.yaml',
        'qwen3-8b-lora-grpo-dapo.yaml',
        'qwen3-1.7b-transition-dapo.yaml',
        'tiny-gtr-dapo.yaml',
        'tiny-grpo-dapo.yaml',
      ].sort(),
    );
  });

  for (const f of files) {
    it(`${f} validates`, () => {
      const r = loadRecipe(join(dir, f));
      expect(r.algorithm.name).toBe(f.includes('grpo') ? 'grpo' : 'gtr');
      expect(r.algorithm.loss.penalty).toBe(f.includes('grpo') ? 'none' : 'gtr');
      expect(r.train.epochs_per_step).toBeGreaterThan(1); // the paper's update-to-data ratio > 1
    });
  }

  it('paper recipes: the paper setting', () => {
    const r = loadRecipe(join(dir, 'qwen3-1.7b-gtr-dapo.yaml'));
    expect(r.model.path).toBe('Qwen/Qwen3-1.7B-Base');
    expect(r.data.train).toBe('dapo-math-17k');
    expect(r.train.steps).toBe(500);
    expect(r.eval).toMatchObject({ benchmarks: ['math500', 'olympiadbench', 'minerva', 'amc23'], n: 4, k: [1, 4] });
    const g = loadRecipe(join(dir, 'qwen3-1.7b-grpo-dapo.yaml'));
    expect({ ...g, algorithm: undefined, run: undefined }).toEqual({ ...r, algorithm: undefined, run: undefined });
  });

  it('tiny recipes: 2 prompts x 4 samples, 16 tokens, 2 steps on CPU', () => {
    for (const f of ['tiny-gtr-dapo.yaml', 'tiny-grpo-dapo.yaml']) {
      const r = loadRecipe(join(dir, f));
      expect(r.model).toMatchObject({ path: 'runs/tiny-model', device: 'cpu' });
      expect([r.train.prompts_per_step, r.rollout.samples_per_prompt, r.rollout.max_new_tokens, r.train.steps]).toEqual(
        [2, 4, 16, 2],
      );
    }
  });
});

describe('saveResolvedRecipe', () => {
  it('writes resolved.yaml that loads back to the same recipe', () => {
    const r = loadRecipe(join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'), ['train.lr=3e-4']);
    const runDir = join(mkdtempSync(join(tmpdir(), 'gtr-run-')), 'nested', 'run');
    const file = saveResolvedRecipe(r, runDir);
    expect(file).toBe(join(runDir, 'resolved.yaml'));
    expect(loadRecipe(file)).toEqual(r);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
