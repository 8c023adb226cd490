// `gtr demo --fast` end to end on CPU (NEEDS the native addon built with the training engine,
// native/train; skipped when the addon has no Trainer): task, tokenizer, random model, 3 SFT
// steps, a tiny pass@k evaluation, 2 GTR steps through train(), evaluation again, summary and
// report. Checks the pipeline and its outputs, not that anything is learned (--fast is too short).
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoWarmUp, formatSummaryFooter, formatSummaryTable, runDemo, SIZES } from '../src/demo/run.js';
import type { ArithmeticProblem } from '../src/demo/task.js';
import { parseRecipe } from '../src/recipe/index.js';
import { sftTrain } from '../src/sft/train.js';
import { readMetricsJsonl } from '../src/report/html.js';
import { native } from '../src/native/binding.js';
import { scratchDir } from './helpers/scratch.js';

let hasTrainer = false;
try {
  hasTrainer = typeof native().Trainer === 'function';
} catch {
  hasTrainer = false;
}

const dir = scratchDir('gtr-demo-smoke-');

describe.skipIf(!hasTrainer)('gtr demo --fast (needs the native trainer)', () => {
  it('runs SFT, evaluation, GTR and the report end to end', { timeout: 240_000 }, async () => {
    const lines: string[] = [];
    const s = await runDemo({
      out: dir,
      steps: 2,
      sftSteps: 3,
      seed: 0,
      algos: ['gtr'],
      fast: true,
      log: (l) => lines.push(l),
    });
    expect(s.sft.steps).toBe(3);
    expect(Number.isFinite(s.sft.firstNll)).toBe(true);
    expect(Object.keys(s.before.passAt)).toEqual(['pass@1', 'pass@2']);
    expect(s.runs).toHaveLength(1);
    for (const v of [...Object.values(s.before.passAt), ...Object.values(s.runs[0]!.after.passAt)]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    const rl = readMetricsJsonl(join(dir, 'rl-gtr', 'metrics.jsonl')).filter((r) => r.kind === 'train');
    expect(rl.map((r) => r.step)).toEqual([1, 2]);
    expect(typeof rl[0]!['critic/score/mean']).toBe('number');
    expect(readMetricsJsonl(join(dir, 'sft', 'metrics.jsonl'))).toHaveLength(3);
    expect(existsSync(join(dir, 'sft', 'model', 'model.safetensors'))).toBe(true);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg ');
    expect(html).toContain('after GTR');
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')).runs[0].algo).toBe('gtr');
    expect(lines.some((l) => l.includes('held-out after GTR'))).toBe(true);
    // Standard errors, the paired gain and the phase timings.
    for (const k of ['pass@1', 'pass@2']) expect(s.before.stdErr[k]).toBeGreaterThanOrEqual(0);
    expect(s.before.correct).toHaveLength(8);
    expect(s.runs[0]!.gain.diff).toBeCloseTo(s.runs[0]!.after.passAt['pass@1']! - s.before.passAt['pass@1']!, 9);
    expect(Object.keys(s.timings)).toEqual(['setup', 'sft', 'eval_before', 'rl_gtr', 'eval_gtr']);
    expect(formatSummaryTable(s)).toContain('pass@1 ± SE');
    expect(formatSummaryFooter(s).at(-1)).toMatch(/^wall time: setup \d+ s, sft \d+ s, .* total \d+ s$/);

    // The warm-up's stop rule: stopWhen is asked every 2 steps and ends SFT where it says so.
    const asked: number[] = [];
    const recipe = parseRecipe(
      JSON.stringify({
        model: { path: join(dir, 'model-init'), dtype: 'float32', device: 'cpu', chat_template: false },
        data: { train: join(dir, 'data', 'sft.jsonl'), template: 'plain', response_field: 'solution' },
        train: { steps: 9, prompts_per_step: 4, lr: 1e-3, seed: 1 },
        checkpoint: { every_steps: 0, keep_last: 1 },
        run: { dir: join(dir, 'sft-stop') },
      }),
      'test recipe',
    );
    const r = await sftTrain(recipe, {
      log: () => {},
      stopCheckEvery: 2,
      stopWhen: (step) => {
        asked.push(step);
        return step >= 4;
      },
    });
    expect(asked).toEqual([2, 4]);
    expect(r.steps).toBe(4);
    expect(r.stoppedEarly).toBe(true);
    expect(readMetricsJsonl(join(dir, 'sft-stop', 'metrics.jsonl'))).toHaveLength(4);
    expect(existsSync(join(dir, 'sft-stop', 'model', 'model.safetensors'))).toBe(true);

    // demoWarmUp with a target a 3-step model cannot reach: a check after steps 1 and 2, then one at the cap.
    const w = join(dir, 'warm');
    mkdirSync(w);
    for (const d of ['model-init', 'tokenizer', 'data']) cpSync(join(dir, d), join(w, d), { recursive: true });
    const dev = readFileSync(join(dir, 'data', 'heldout.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ArithmeticProblem);
    const warm = await demoWarmUp(w, dev, { ...SIZES.fast, sftTarget: 1, sftCheckEvery: 1 }, 0, 3, () => {});
    expect(warm.checks.map((c) => c.step)).toEqual([1, 2, 3]);
    expect(warm.sft.stoppedEarly).toBe(false);
    for (const c of warm.checks) expect(c.accuracy).toBeLessThan(1);
  });
});
