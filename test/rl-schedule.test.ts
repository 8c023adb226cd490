// Non-stationary training (recipe data.schedule): parsing with errors that name the phase and the
// field; the step -> phase map; the loop switching datasets and graders at the right steps and
// evaluating every phase at every eval point (a scripted rollout engine, the transition task's
// graders); and an exact resume across a switch (native engines, CPU, bitwise weights).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Policy } from '../src/policy.js';
import { parseRecipe, RecipeError } from '../src/recipe/index.js';
import { nativeEngines, trainerEngine } from '../src/rl/adapters.js';
import type { RolloutEngine } from '../src/rollout/engine.js';
import { train } from '../src/rl/loop.js';
import { phaseSpans, resolvePhases, spanAt } from '../src/recipe/schedule.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { demoModelConfig } from '../src/demo/run.js';
import { writeDemoTokenizer } from '../src/demo/tokenizer.js';
import { graderModule } from '../src/transition/task.js';
import { fixturesDir } from './helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-schedule-'));
const modelDir = join(scratch, 'model');
const fileA = join(scratch, 'a.jsonl');
const fileB = join(scratch, 'b.jsonl');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(async () => {
  const tok = writeDemoTokenizer(join(scratch, 'tok'));
  const p = await Policy.random(demoModelConfig(tok.vocabSize, tok.eosTokenId, 64, 1), 5, {
    device: 'cpu',
    dtype: 'float32',
  });
  await p.save(modelDir, { tokenizerFrom: join(scratch, 'tok') });
  p.dispose();
  writeFileSync(
    fileA,
    Array.from({ length: 12 }, (_, k) => JSON.stringify({ id: `a${k}`, problem: `P${k}+0=`, answer: String(k) })).join(
      '\n',
    ),
  );
  writeFileSync(
    fileB,
    Array.from({ length: 12 }, (_, k) => JSON.stringify({ id: `b${k}`, problem: `Q${k}+0=`, answer: String(k) })).join(
      '\n',
    ),
  );
});

const yaml = (schedule: string, steps = 4) => `
train: { steps: ${steps} }
data:
  schedule:
${schedule}`;

function problemsOf(text: string): string[] {
  try {
    parseRecipe(text, 'r.yaml');
  } catch (e) {
    if (e instanceof RecipeError) return e.problems;
    throw e;
  }
  return [];
}

describe('data.schedule parsing', () => {
  it('parses phases, fills fallbacks and maps steps to phases (cycles share a phase)', () => {
    const r = parseRecipe(
      yaml(
        `    - { name: A, steps: 2, grader: math }\n    - { name: B, steps: 3, template: plain }\n    - { name: A, steps: 1, grader: math }`,
        6,
      ),
      'r.yaml',
    );
    const phases = resolvePhases(r);
    expect(phases.map((p) => p.name)).toEqual(['A', 'B']);
    expect(phases[1]).toMatchObject({
      template: 'plain',
      grader: 'dapo',
      train: 'dapo-math-17k',
      eval: r.eval.benchmarks,
    });
    const spans = phaseSpans(r);
    expect(spans.map((s) => [s.phase, s.firstStep, s.lastStep])).toEqual([
      [0, 1, 2],
      [1, 3, 5],
      [0, 6, 6],
    ]);
    expect([1, 2, 3, 4, 5, 6].map((s) => phases[spanAt(spans, s).phase]!.name).join('')).toBe('AABBBA');
  });

  it('names the phase and the field in errors', () => {
    const p = problemsOf(yaml(`    - { name: A, steps: 2 }\n    - { name: B, steps: 0 }`, 2));
    expect(
      p.some((m) => /r\.yaml:\d+: data\.schedule\[1\] \(phase "B"\)\.steps: .*(>0|greater|positive)/i.test(m)),
    ).toBe(true);
    const unknown = problemsOf(yaml(`    - { name: A, steps: 2, grade: math }\n    - { name: B, steps: 2 }`));
    expect(unknown.join('\n')).toMatch(/data\.schedule\[0\] \(phase "A"\)\.grade: unknown key/);
    const tmpl = problemsOf(yaml(`    - { name: A, steps: 2 }\n    - { name: B, steps: 2, template: nope }`));
    expect(tmpl.join('\n')).toMatch(/data\.schedule\[1\] \(phase "B"\)\.template/);
    const grader = problemsOf(yaml(`    - { name: A, steps: 2, grader: 7 }\n    - { name: B, steps: 2 }`));
    expect(grader.join('\n')).toMatch(/data\.schedule\[0\] \(phase "A"\)\.grader/);
  });

  it('checks the steps sum and that a recurring phase agrees with itself', () => {
    expect(problemsOf(yaml(`    - { name: A, steps: 2 }\n    - { name: B, steps: 3 }`, 4)).join('\n')).toMatch(
      /data\.schedule: the phases' steps sum to 5 \(A 2 \+ B 3\) but train\.steps is 4/,
    );
    const p = problemsOf(
      yaml(
        `    - { name: A, steps: 1, grader: math }\n    - { name: B, steps: 2 }\n    - { name: A, steps: 1, grader: dapo }`,
      ),
    );
    expect(p.join('\n')).toMatch(
      /data\.schedule\[2\] \(phase "A"\)\.grader: phase "A" is met again here but its grader \("dapo"\) differs/,
    );
  });
});

/**
 * Answers "Answer: k" to "P<k>+0=" (phase A's format) and, to "Q<k>+0=", "#### k" on even
 * samples, "Answer: k" on odd ones.
 */
async function scriptedEngine(): Promise<RolloutEngine> {
  const tok = await Tokenizer.fromDir(modelDir);
  return {
    async generate(prompts: Int32Array[], r: { n: number }) {
      return prompts.map((p) => {
        const [, kind, k] = /([PQ])(\d+)/.exec(tok.decode(p))!;
        return Array.from({ length: r.n }, (_, j) => {
          const tokens = Int32Array.from(tok.encode(kind === 'Q' && j % 2 === 0 ? `#### ${k}` : `Answer: ${k}`));
          return { tokens, logprobs: new Float32Array(tokens.length).fill(-1), finishReason: 'stop' as const };
        });
      });
    },
  };
}

function scheduleRecipe(run: string, o: { graders: [unknown, unknown]; evalEvery: number; ckptEvery?: number }) {
  return parseRecipe(
    JSON.stringify({
      model: { path: modelDir, dtype: 'float32', device: 'cpu' },
      data: {
        template: 'plain',
        max_prompt_tokens: 64,
        schedule: [
          { name: 'A', steps: 2, train: fileA, grader: o.graders[0], eval: [fileA] },
          { name: 'B', steps: 2, train: fileB, grader: o.graders[1], eval: [fileB] },
          { name: 'A', steps: 1, train: fileA, grader: o.graders[0], eval: [fileA] },
        ],
      },
      rollout: { samples_per_prompt: 4, max_new_tokens: 6, seed: 3 },
      algorithm: { name: 'gtr' },
      train: {
        steps: 5,
        prompts_per_step: 2,
        mini_batches_per_epoch: 1,
        epochs_per_step: 2,
        tokens_per_micro_batch: 4096,
        lr: 1e-3,
        activation_checkpointing: false,
        seed: 1,
      },
      eval: { every_steps: o.evalEvery, benchmarks: ['unused.jsonl'], n: 2, k: [1], limit: 4, max_new_tokens: 6 },
      checkpoint: { every_steps: o.ckptEvery ?? 0, keep_last: 10 },
      run: { dir: join(scratch, run), tensorboard: false, report: false },
    }),
    run,
  );
}
const rowsOf = (run: string) =>
  readFileSync(join(scratch, run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('the loop under a schedule', () => {
  it(
    'switches data and grader at the right steps and evaluates every phase at every eval point',
    { timeout: 120_000 },
    async () => {
      const engine = await scriptedEngine();
      await train(scheduleRecipe('switch', { graders: [graderModule('A'), graderModule('B')], evalEvery: 2 }), {
        log: () => {},
        engines: (p, ref, r) => ({ rollout: engine, trainer: trainerEngine(p, ref, r) }),
      });
      const rows = rowsOf('switch');
      const trainRows = rows.filter((r) => r.kind === 'train');
      expect(trainRows.map((r) => r.phase).join('')).toBe('AABBA');
      // Phase A's grader pays every "Answer: k" on A's prompts; phase B's pays only the "#### k" half on B's.
      expect(trainRows.map((r) => r['critic/score/mean'])).toEqual([1, 1, 0.5, 0.5, 1]);
      const samples = readFileSync(join(scratch, 'switch', 'samples.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(samples.map((s) => `${s.step}${s.id[0]}`)).toEqual([
        '1a',
        '1a',
        '2a',
        '2a',
        '3b',
        '3b',
        '4b',
        '4b',
        '5a',
        '5a',
      ]);
      const evals = rows.filter((r) => r.kind === 'eval');
      expect(evals.map((r) => r.step)).toEqual([2, 4, 5]);
      for (const e of evals) {
        expect(e['val/A/mean/mean@2']).toBe(1);
        expect(e['val/B/mean/mean@2']).toBe(0.5);
        expect(e[`val/A/${fileA}/mean@2`]).toBe(1);
        expect(e[`val/B/${fileB}/mean@2`]).toBe(0.5);
      }
    },
  );

  it('resumes across a switch exactly (bitwise weights on CPU)', { timeout: 240_000 }, async () => {
    const graders: [unknown, unknown] = [
      { module: join(fixturesDir, 'schedule-graders.ts'), export: 'evenLength' },
      { module: join(fixturesDir, 'schedule-graders.ts'), export: 'oddLength' },
    ];
    await train(scheduleRecipe('straight', { graders, evalEvery: 0 }), { engines: nativeEngines, log: () => {} });
    const ac = new AbortController();
    const first = await train(scheduleRecipe('split', { graders, evalEvery: 0 }), {
      engines: nativeEngines,
      log: () => {},
      signal: ac.signal,
      onStep: (r) => {
        if (r.step === 3) ac.abort();
      },
    });
    expect(first).toMatchObject({ lastStep: 3, interrupted: true });
    await train(scheduleRecipe('split', { graders, evalEvery: 0 }), {
      engines: nativeEngines,
      log: () => {},
      resume: true,
    });
    const w = (run: string) =>
      readFileSync(join(scratch, run, 'checkpoints', 'step-000005', 'policy', 'model.safetensors'));
    expect(Buffer.compare(w('straight'), w('split'))).toBe(0);
    const straight = rowsOf('straight'),
      split = rowsOf('split');
    expect(split.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    expect(split.map((r) => r['critic/score/mean'])).toEqual(straight.map((r) => r['critic/score/mean']));
    // The policy moved (the rewards were mixed), so equal weights mean an exact resume, not an idle one.
    expect(straight.some((r) => r['actor/optimizer_steps'] > 0 && r['actor/pg_loss'] !== 0)).toBe(true);
  });
});
