// Issue 19 items 7, 9, 16 in `gtr train`: a bad grader stops the run before step 1 (or at the first
// step where nothing could be graded), grader errors are counted per step apart from timeouts, and
// wrong paths or a context overflow are named by recipe key before the run directory is touched.
import { existsSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nativeEngines } from '../src/rl/adapters.js';
import { train } from '../src/rl/loop.js';
import { tinyModelScratch, tinyRecipe } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-bad-train-', 11);
const grader = (f: string) => fileURLToPath(new URL(`./fixtures/bad-input/graders/${f}`, import.meta.url));

function recipe(run: string, extra: string[] = []) {
  return tinyRecipe(modelDir, join(scratch, run), ['train.steps=1', 'rollout.max_new_tokens=8', ...extra]);
}
const log = () => {};
const trainRows = (run: string) => {
  const f = join(scratch, run, 'metrics.jsonl');
  return existsSync(f)
    ? readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.kind === 'train')
    : [];
};

describe('grader faults in training (item 7)', () => {
  it('refuses a grader that returns NaN, or does not load, before step 1', async () => {
    await expect(
      train(recipe('nan', [`reward.grader={module: ${grader('returns-nan.mjs')}}`]), { engines: nativeEngines, log }),
    ).rejects.toThrow(
      /^reward\.grader: failed on a probe \(row "dapo-\d+" with its own answer\): custom grader .*returns-nan\.mjs#default: returned a non-finite score \(NaN\)/,
    );
    expect(trainRows('nan')).toEqual([]);
    await expect(
      train(recipe('syntax', [`reward.grader={module: ${grader('syntax-error.mjs')}}`]), {
        engines: nativeEngines,
        log,
      }),
    ).rejects.toThrow(/^reward\.grader: custom grader .*syntax-error\.mjs#default: cannot load module/);
  }, 120_000);

  it('fails the run at a step where every response failed to grade', async () => {
    await expect(
      train(recipe('allfail', [`reward.grader={module: ${grader('fails-on-real-responses.mjs')}}`]), {
        engines: nativeEngines,
        log,
      }),
    ).rejects.toThrow(
      /^step 1: the grader failed on all 8 responses \(8 errors, 0 timeouts\); first error: .*cannot grade this response/,
    );
    expect(trainRows('allfail')).toEqual([]);
  }, 120_000);

  it('counts grader errors per step (reward/grader_errors, apart from reward/grader_timeouts) and warns', async () => {
    const lines: string[] = [];
    await train(recipe('some', [`reward.grader={module: ${grader('fails-on-some.mjs')}}`]), {
      engines: nativeEngines,
      log: (l) => lines.push(l),
    });
    const [row] = trainRows('some');
    expect(row['reward/grader_timeouts']).toBe(0);
    expect(row['reward/grader_errors']).toBeGreaterThan(0);
    expect(row['reward/grader_errors']).toBeLessThan(8);
    expect(
      lines.some((l) => l.startsWith(`step 1: the grader failed on ${row['reward/grader_errors']} of 8 responses`)),
    ).toBe(true);
  }, 120_000);
});

describe('inputs named by recipe key (items 9, 16)', () => {
  it('names data.train, model.path and the context limit, and leaves no run directory', async () => {
    const missing = join(scratch, 'nope.jsonl');
    await expect(train(recipe('d1', [`data.train=${missing}`]), { engines: nativeEngines, log })).rejects.toThrow(
      `data.train: ${missing} does not exist`,
    );
    await expect(
      train(recipe('d2', [`data.train=${scratch}/model.jsonl`, `model.path=${join(scratch, 'no-model')}`]), {
        engines: nativeEngines,
        log,
      }),
    ).rejects.toThrow(`model.path: model directory not found: ${join(scratch, 'no-model')}`);
    await expect(train(recipe('d3', ['rollout.max_new_tokens=3600']), { engines: nativeEngines, log })).rejects.toThrow(
      `data.max_prompt_tokens is 512 tokens + rollout.max_new_tokens 3600 = 4112, past the model's context of 4096 tokens (max_position_embeddings in ${modelDir}/config.json)`,
    );
    for (const run of ['d1', 'd2', 'd3']) expect(existsSync(join(scratch, run))).toBe(false);
  }, 60_000);

  it('checks each periodic-evaluation prompt against the context, naming eval.max_new_tokens', async () => {
    // A failed periodic evaluation is logged and counted after the step's checkpoint; training goes on.
    const r = recipe('evalctx', [
      'eval.every_steps=1',
      'eval.benchmarks=[amc23]',
      'eval.limit=1',
      'eval.n=1',
      'eval.k=[1]',
      'eval.max_new_tokens=4090',
    ]);
    const summary = await train(r, { engines: nativeEngines, log });
    expect(summary.evalErrors).toBe(1);
    const rows = readFileSync(join(summary.runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const failed = rows.filter((row) => row.kind === 'eval' && row['val/failed'] === 1);
    expect(failed).toHaveLength(1);
    expect(failed[0].error).toMatch(
      /^benchmark amc23 problem "[^"]+": the prompt is \d+ tokens \+ eval\.max_new_tokens 4090 = \d+, past the model's context of 4096 tokens/,
    );
  }, 120_000);
});

describe('few prompts (issue 32)', () => {
  const rows = (n: number, short: (k: number) => boolean) =>
    Array.from({ length: n }, (_, k) =>
      JSON.stringify({
        id: `q${k}`,
        problem: short(k) ? `What is ${k} + 1?` : `What is ${'one plus '.repeat(200)}${k}?`,
        answer: String(k + 1),
      }),
    ).join('\n');

  it('a one-row dataset with prompts_per_step 4 warns that the step repeats its prompt', async () => {
    const file = join(scratch, 'one-row.jsonl');
    writeFileSync(
      file,
      rows(1, () => true),
    );
    const lines: string[] = [];
    await train(recipe('onerow', [`data.train=${file}`, 'data.limit=null', 'train.prompts_per_step=4']), {
      engines: nativeEngines,
      log: (l) => lines.push(l),
    });
    expect(lines.join('\n')).toMatch(
      /warning: step 1: \S*one-row\.jsonl gave only 1 distinct prompt\(s\) that fit data\.max_prompt_tokens = 512 for train\.prompts_per_step = 4: groups of the same prompt repeat/,
    );
    expect(trainRows('onerow')).toHaveLength(1);
  }, 60_000);

  it('draws on until enough prompts fit when few rows do (the old 100 x count draw limit died)', async () => {
    // 6 of 1500 rows fit 200 tokens: 2 prompts took ~500 draws on average, past the old limit of 200.
    const file = join(scratch, 'few-fit.jsonl');
    writeFileSync(
      file,
      rows(1500, (k) => k % 250 === 0),
    );
    const r = recipe('fewfit', [
      `data.train=${file}`,
      'data.limit=null',
      'data.max_prompt_tokens=200',
      'train.steps=2',
    ]);
    await train(r, { engines: nativeEngines, log });
    const m = trainRows('fewfit');
    expect(m.map((x) => x.step)).toEqual([1, 2]);
    expect(m[1]['batch/skipped_long_prompts']).toBeGreaterThan(200);
    // None fitting at all is still an error naming the file and the key.
    const none = join(scratch, 'none-fit.jsonl');
    writeFileSync(
      none,
      rows(30, () => false),
    );
    await expect(
      train(recipe('nonefit', [`data.train=${none}`, 'data.limit=null', 'data.max_prompt_tokens=200']), {
        engines: nativeEngines,
        log,
      }),
    ).rejects.toThrow(/none-fit\.jsonl: none of its 30 rows fits data\.max_prompt_tokens = 200/);
  }, 120_000);
});
