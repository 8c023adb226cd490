// `gtr report` on recorded run directories (src/run/report.ts): one plot per changing series
// of metrics.jsonl (train and eval rows), key metrics first with moving averages, the eval table per
// benchmark and eval step, the sample table from samples.jsonl, and several runs overlaid.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runReport } from '../src/run/report.js';
import { renderReport } from '../src/report/html.js';
import { gtr } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-report-run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A recorded run: 6 train steps, eval at steps 3 and 6 on two benchmarks, 2 samples per step. */
function recordRun(name: string, slope: number): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const rows: Record<string, unknown>[] = [];
  for (let step = 1; step <= 6; step++) {
    rows.push({
      step,
      kind: 'train',
      'critic/score/mean': slope * step,
      'critic/accuracy/mean': (slope * step) / 2,
      'response_length/mean': 100 - step,
      'actor/entropy': 1 / step,
      'actor/pg_clipfrac': 0.01 * step,
      'actor/penalty/mean': 0.002 * step,
      'actor/ratio/p95': 1 + 0.01 * step,
      'timing_s/gen': 2 + (step % 2),
      'actor/lr': 1e-6,
      'actor/skipped_steps': 0,
    });
    if (step % 3 === 0) {
      rows.push({
        step,
        kind: 'eval',
        'val/aime24/pass@1': 0.1 * step * slope,
        'val/amc23/pass@1': 0.2 * step * slope,
        'val/mean/pass@1': 0.15 * step * slope,
        'timing_s/testing': 5 + step,
      });
    }
  }
  writeFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const samples = [];
  for (let step = 1; step <= 6; step++)
    for (const j of [0, 1])
      samples.push({
        step,
        id: `p${step}-${j}`,
        prompt: `Q${step}`,
        gold: String(step),
        response: `Answer: ${step + j}`,
        reward: j ? -1 : 1,
        extracted: String(step + j),
      });
  writeFileSync(join(dir, 'samples.jsonl'), samples.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return dir;
}

const gtrDir = recordRun('gtr', 0.1);
const grpoDir = recordRun('grpo', 0.05);
const CHANGING = [
  'critic/score/mean',
  'critic/accuracy/mean',
  'response_length/mean',
  'actor/entropy',
  'actor/pg_clipfrac',
  'actor/penalty/mean',
  'actor/ratio/p95',
  'timing_s/gen',
  'val/aime24/pass@1',
  'val/amc23/pass@1',
  'val/mean/pass@1',
  'timing_s/testing',
];
const plotTitles = (html: string) => [...html.matchAll(/<svg [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);

describe('run report', () => {
  it('one plot per changing series, key metrics first, constants folded, eval table, sample table', () => {
    const html = renderReport(runReport([gtrDir]));
    const titles = plotTitles(html);
    expect([...titles].sort()).toEqual([...CHANGING].sort());
    expect(titles.slice(0, 6)).toEqual([
      'critic/score/mean',
      'critic/accuracy/mean',
      'val/mean/pass@1',
      'response_length/mean',
      'actor/entropy',
      'actor/pg_clipfrac',
    ]);
    expect(html).toContain('2 constant series (not plotted)');
    // Then the other series by group: outcomes before mechanics before costs (first seen: actor, timing_s, val).
    expect([...html.matchAll(/<h3>([^<]+)<\/h3>/g)].map((m) => m[1])).toEqual([
      'Key metrics',
      'val',
      'actor',
      'timing_s',
    ]);
    // Eval points are plotted at their steps: two points per val/ series.
    const val = html.slice(html.indexOf('<title>val/amc23/pass@1</title>'));
    expect(val.slice(0, val.indexOf('</svg>')).match(/<circle /g)).toHaveLength(2);
    // The eval table: one row per (eval step, benchmark).
    expect(html).toContain('<tr><td>gtr</td><td>3</td><td>aime24</td><td>0.030</td></tr>');
    expect(html).toContain('<tr><td>gtr</td><td>6</td><td>amc23</td><td>0.120</td></tr>');
    expect(html).toContain('<tr><td>gtr</td><td>6</td><td>mean</td><td>0.090</td></tr>');
    // Samples: 6 steps x 2, with prompt, response, gold, extracted and reward.
    expect(html.match(/<summary>step \d+ \(2\)<\/summary>/g)).toHaveLength(6);
    expect(html).toContain(
      '<tr><td>gtr</td><td>p4-1</td><td class="text">Q4</td><td class="text">Answer: 5</td><td>4</td><td>5</td><td>-1</td></tr>',
    );
    // Smoothed reward and accuracy: a moving average line each.
    expect(html.match(/class="avg"/g)).toHaveLength(2);
  });

  it('overlays several runs: one line per run on every plot, legends, both runs in the tables', () => {
    const html = renderReport(runReport([gtrDir, grpoDir]));
    expect(plotTitles(html)).toHaveLength(CHANGING.length);
    const figs = html.split(/<figure[ >]/).slice(1);
    for (const f of figs) {
      expect(f).toContain('>gtr</text>');
      expect(f).toContain('>grpo</text>');
    }
    expect(html.match(/class="avg"/g)).toHaveLength(4);
    expect(html).toContain('<tr><td>grpo</td><td>6</td><td>amc23</td><td>0.060</td></tr>');
    expect(html).toContain('<td>grpo</td><td>p1-0</td>');
  });

  it('names a directory that holds no run', () => {
    expect(() => runReport([join(scratch, 'nope')])).toThrow(/nope: no metrics\.jsonl/);
  });

  it('gtr report writes the file (one run: into the run dir; several: --out)', async () => {
    await gtr(['report', gtrDir]);
    expect(plotTitles(readFileSync(join(gtrDir, 'report.html'), 'utf8'))).toHaveLength(CHANGING.length);
    const out = join(scratch, 'both.html');
    const { stdout } = await gtr(['report', gtrDir, grpoDir, '--out', out, '--title', 'GTR vs GRPO']);
    expect(stdout).toContain(out);
    expect(readFileSync(out, 'utf8')).toContain('<h1>GTR vs GRPO</h1>');
  }, 60_000);
});
