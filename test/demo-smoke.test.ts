// `gtr demo --fast` end to end on CPU (NEEDS the native addon built with the training engine,
// native/train; skipped when the addon has no Trainer): task, tokenizer, random model, 3 SFT
// steps, a tiny pass@k evaluation, 2 GTR steps through train(), evaluation again, summary and
// report. Checks the pipeline and its outputs, not that anything is learned (--fast is too short).
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../src/demo/run.js';
import { readMetricsJsonl } from '../src/report/html.js';
import { native } from '../src/native/binding.js';

let hasTrainer = false;
try {
  hasTrainer = typeof native().Trainer === 'function';
} catch {
  hasTrainer = false;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtr-demo-smoke-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTrainer)('gtr demo --fast (needs the native trainer)', () => {
  it('runs SFT, evaluation, GTR and the report end to end', { timeout: 240_000 }, async () => {
    const lines: string[] = [];
    const s = await runDemo({ out: dir, steps: 2, sftSteps: 3, seed: 0, algos: ['gtr'], fast: true, log: (l) => lines.push(l) });
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
  });
});
