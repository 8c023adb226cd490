/**
 * Custom graders as a user plugs them in (issue #26):
 * - `{score, ...metrics}` reaches metrics.jsonl (`reward/<metric>/mean`), TensorBoard (same tags)
 *   and samples.jsonl (`metrics`), in a real `gtr train` run;
 * - `module:` paths in a recipe resolve against the recipe's folder (the run starts elsewhere);
 *   `--set` paths stay relative to the working directory;
 * - the batched form (TRL's reward_funcs: one call per batch, one score per response);
 * - weighted reward lists `reward.graders: [{grader, weight}]` (sum of weight x score, each part's
 *   score logged under its name), checked against the parts graded one by one;
 * - verl's parquet layout as `data.train`.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presetConfig } from '../src/checkpoint/index.js';
import { DAPO_PREFIX, DAPO_SUFFIX, loadDataset } from '../src/data/index.js';
import { GraderPool, combineWeighted } from '../src/grading/index.js';
import { native } from '../src/native/binding.js';
import { Policy } from '../src/policy.js';
import { loadRecipe } from '../src/recipe/index.js';
import { cliPath, dataDir, repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'gtr-custom-graders-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// A user's folder: the recipe and its graders side by side.
const userDir = join(scratch, 'my-project');
mkdirSync(userDir);
writeFileSync(
  join(userDir, 'length-grader.ts'),
  `export default function grade(response: string, row: Record<string, unknown>) {
  return { score: response.length % 2, chars: response.length, has_gold: response.includes(String(row.answer)) };
}
`,
);
writeFileSync(
  join(userDir, 'batched.ts'),
  `// TRL's reward_funcs form: lists in, one score per response out.
export function rewards(responses: string[], rows: Record<string, unknown>[], prompts: string[]) {
  return responses.map((r, i) => ({ score: r.length > 0 ? 0.25 : 0, batch: responses.length, prompt_chars: prompts[i]!.length }));
}
export function wrongLength(responses: string[]) {
  return responses.slice(1).map(() => 1);
}
`,
);

let hasTrainer = false;
try {
  hasTrainer = typeof native().Trainer === 'function';
} catch {
  hasTrainer = false;
}

describe('weighted and batched graders in the pool', () => {
  const items = [
    { response: 'so the answer is \\boxed{4}', row: { id: 'a', problem: 'p', answer: '4' }, prompt: 'What is 2+2?' },
    { response: 'Answer: 7', row: { id: 'b', problem: 'q', answer: '5' }, prompt: 'What is 2+3?' },
    { response: '', row: { id: 'c', problem: 'r', answer: '1' }, prompt: 'x' },
  ];

  it('a batched grader is called once with every response and gives one verdict each', async () => {
    const pool = new GraderPool({
      grader: { module: join(userDir, 'batched.ts'), export: 'rewards', batched: true },
      threads: 1,
    });
    try {
      await pool.check();
      const r = await pool.grade(items);
      expect(r.map((x) => x.score)).toEqual([0.25, 0.25, 0]);
      expect(r.map((x) => x.batch)).toEqual([3, 3, 3]); // one call saw all three
      expect(r.map((x) => x.prompt_chars)).toEqual([12, 12, 1]);
      expect(r.map((x) => x.correct)).toEqual([true, true, false]);
    } finally {
      await pool.destroy();
    }
  });

  it('a batched grader returning the wrong number of scores fails the batch, saying so', async () => {
    const pool = new GraderPool({
      grader: { module: join(userDir, 'batched.ts'), export: 'wrongLength', batched: true },
      threads: 1,
    });
    try {
      const r = await pool.grade(items);
      for (const x of r) {
        expect(x.score).toBe(0);
        expect(x.error).toMatch(
          /batched.ts#wrongLength: a batched grader must return an array of 3 scores .* got 2 items/,
        );
      }
    } finally {
      await pool.destroy();
    }
  });

  it('a weighted list sums weight x score of each part, graded one by one for reference', async () => {
    const parts = [
      { grader: 'math', weight: 1 },
      { grader: { module: join(userDir, 'length-grader.ts') }, weight: -0.5, name: 'len' },
      { grader: 'dapo', weight: 0.1 },
    ];
    const pool = new GraderPool({ grader: { graders: parts }, threads: 1 });
    const refs = parts.map((p) => new GraderPool({ grader: p.grader, threads: 1 }));
    try {
      const r = await pool.grade(items);
      const each = await Promise.all(refs.map((p) => p.grade(items)));
      items.forEach((_, j) => {
        const expected = parts.reduce((a, p, i) => a + p.weight * each[i]![j]!.score, 0);
        expect(r[j]!.score).toBeCloseTo(expected, 12);
        expect(r[j]!.correct).toBe(each[0]![j]!.correct);
        expect(r[j]!.math).toBe(each[0]![j]!.score);
        expect(r[j]!.len).toBe(each[1]![j]!.score);
        expect(r[j]!['len/chars']).toBe(items[j]!.response.length);
        expect(r[j]!.dapo).toBe(each[2]![j]!.score);
      });
      // Independent arithmetic on item 0: math 1, len 26 % 2 = 0, dapo -1 (no Answer: line).
      expect(r[0]!.score).toBeCloseTo(1 - 0 - 0.1, 12);
      expect(pool.graderId.name).toMatch(/^1 x math \+ -0.5 x .*length-grader.ts#default \+ 0.1 x dapo$/);
    } finally {
      await Promise.all([pool.destroy(), ...refs.map((p) => p.destroy())]);
    }
  });

  it('combineWeighted reports which part failed an item', () => {
    const [c] = combineWeighted(
      [
        { grader: 'math', weight: 1 },
        { grader: 'dapo', weight: 2, name: 'fmt' },
      ],
      [
        [{ score: 1, correct: true, extracted: '4' }],
        [{ score: 0, correct: false, extracted: null, error: 'boom', timedOut: true }],
      ],
    );
    expect(c).toEqual({ score: 1, correct: true, extracted: '4', math: 1, fmt: 0, error: 'fmt: boom', timedOut: true });
  });
});

describe('recipes name graders beside themselves', () => {
  it("relative module paths in the file resolve against the recipe's folder; --set ones against the working directory", () => {
    const file = join(userDir, 'r.yaml');
    writeFileSync(
      file,
      'reward:\n  grader: {module: ./length-grader.ts}\n  graders:\n    - {grader: dapo, weight: 1}\n    - {grader: {module: ./batched.ts, export: rewards, batched: true}, weight: 2}\n',
    );
    const r = loadRecipe(file);
    expect(r.reward.grader).toEqual({ module: join(userDir, 'length-grader.ts'), export: 'default', batched: false });
    expect(r.reward.graders![1]!.grader).toEqual({
      module: join(userDir, 'batched.ts'),
      export: 'rewards',
      batched: true,
    });
    const o = loadRecipe(file, ['reward.grader.module=./other.ts']);
    expect(o.reward.grader).toMatchObject({ module: './other.ts' });
  });
});

describe('verl parquet layout as data.train', () => {
  it('reads prompt messages (last user turn, DAPO wrapper removed) and reward_model.ground_truth', async () => {
    const rows = [
      {
        data_source: 'math_dapo',
        prompt: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: `${DAPO_PREFIX}What is $1+1$?${DAPO_SUFFIX}` },
        ],
        ability: 'MATH',
        reward_model: { ground_truth: '2', style: 'rule' },
        extra_info: { index: 7, split: 'train' },
      },
      {
        data_source: 'gsm8k',
        prompt: [{ role: 'user', content: 'Natalia sold 48 clips. How many?' }],
        ability: 'math',
        reward_model: { ground_truth: 72, style: 'rule' },
        extra_info: { index: 8, split: 'train' },
      },
    ];
    const file = join(scratch, 'verl.parquet');
    writeFileSync(
      file,
      Buffer.from(
        parquetWriteBuffer({
          columnData: (['data_source', 'prompt', 'ability', 'reward_model', 'extra_info'] as const).map((name) => ({
            name,
            data: rows.map((r) => r[name]),
          })),
        }),
      ),
    );
    const d = await loadDataset(file);
    expect(d.rows.map((r) => [r.id, r.problem, r.answer])).toEqual([
      ['7', 'What is $1+1$?', '2'],
      ['8', 'Natalia sold 48 clips. How many?', '72'],
    ]);
    expect(d.rows[1]!.extra).toMatchObject({ data_source: 'gsm8k', reward_model: { ground_truth: 72 } });
    expect(d.skipped).toBe(0);
  });
});

describe.skipIf(!hasTrainer)('gtr train with custom graders (needs the native trainer)', () => {
  const modelDir = join(scratch, 'model');
  beforeAll(async () => {
    const p = await Policy.random(presetConfig('tiny'), 3);
    await p.save(modelDir);
    p.dispose();
  });

  it(
    'metrics reach metrics.jsonl, TensorBoard and samples.jsonl; modules resolve from the recipe folder',
    { timeout: 300_000 },
    async () => {
      const tiny = readFileSync(join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'), 'utf8').replace(
        'reward:\n  grader: dapo\n',
        'reward:\n  graders:\n    - {grader: dapo, weight: 1}\n    - {grader: {module: ./length-grader.ts}, weight: 0.5, name: len}\n    - {grader: {module: ./batched.ts, export: rewards, batched: true}, weight: 1, name: batch}\n',
      );
      expect(tiny).toContain('name: len');
      writeFileSync(join(userDir, 'tiny-custom.yaml'), tiny);
      const runDir = join(scratch, 'run');
      const elsewhere = mkdtempSync(join(tmpdir(), 'gtr-cwd-'));
      await run(
        process.execPath,
        [
          cliPath,
          'train',
          join(userDir, 'tiny-custom.yaml'),
          '--set',
          `model.path=${modelDir}`,
          '--set',
          `run.dir=${runDir}`,
          '--set',
          'eval.every_steps=0',
          '--set',
          'rollout.max_new_tokens=8',
          '--data-dir',
          dataDir,
        ],
        { cwd: elsewhere, env: { ...process.env, GTR_DATA_DIR: '' } },
      );
      const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .filter((r) => r.kind === 'train');
      expect(rows).toHaveLength(2);
      const samples = readFileSync(join(runDir, 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      for (const r of rows) {
        for (const k of [
          'reward/dapo/mean',
          'reward/len/mean',
          'reward/len/chars/mean',
          'reward/len/has_gold/mean',
          'reward/batch/mean',
          'reward/batch/batch/mean',
        ])
          expect(typeof r[k], `${k} at step ${r.step}`).toBe('number');
        expect(r['reward/dapo/mean']).toBe(-1); // a random model never writes the answer line
        expect(r['reward/batch/batch/mean']).toBe(8); // one call per step: 2 prompts x 4 samples
        // The step's reward is the weighted sum of the parts' means (one weight per part, same responses).
        expect(r['critic/score/mean']).toBeCloseTo(
          r['reward/dapo/mean'] + 0.5 * r['reward/len/mean'] + r['reward/batch/mean'],
          9,
        );
      }
      expect(samples.length).toBeGreaterThan(0);
      for (const s of samples) {
        expect(s.metrics).toMatchObject({ dapo: -1, batch: expect.any(Number), 'len/chars': expect.any(Number) });
        expect(s.reward).toBeCloseTo(s.metrics.dapo + 0.5 * s.metrics.len + s.metrics.batch, 9);
      }
      // TensorBoard: every custom tag is in the event file (tags are stored as UTF-8 in the summaries).
      const tbDir = join(runDir, 'tensorboard');
      const events = readFileSync(
        join(
          tbDir,
          readdirSync(tbDir).find((f) => f.startsWith('events.out.tfevents.'))!,
        ),
      );
      for (const tag of ['reward/len/chars/mean', 'reward/batch/mean', 'reward/dapo/mean'])
        expect(events.includes(Buffer.from(tag)), tag).toBe(true);
    },
  );
});
