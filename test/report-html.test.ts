// The demo's HTML report: from a hand-made metrics.jsonl, one inline SVG per numeric series (runs
// drawn on shared axes), the eval table, escaping, and a self-contained, balanced document.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numericSeries, readMetricsJsonl, renderReport, writeReport } from '../src/demo/report.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtr-demo-report-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rows = [1, 2, 3, 4].map((step) => ({
  step, kind: 'train', lr: 5e-4, 'reward/mean': 0.1 * step, 'reward/accuracy': 0.1 * step, 'response/length_mean': 20 - step,
  'train/entropy': 1 / step, 'train/ratioMean': 1 + 0.01 * step, 'train/clipFrac': 0.02, 'train/penaltyMean': 0.001 * step,
  'train/skipped': false, 'train/reason': 'none',
}));
const SERIES = ['lr', 'reward/mean', 'reward/accuracy', 'response/length_mean', 'train/entropy', 'train/ratioMean', 'train/clipFrac', 'train/penaltyMean'];

describe('demo report', () => {
  it('reads metrics.jsonl and finds every numeric series (booleans and strings left out)', async () => {
    const file = join(dir, 'metrics.jsonl');
    await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
    const read = readMetricsJsonl(file);
    expect(read).toEqual(rows);
    const s = numericSeries(read);
    expect([...s.keys()]).toEqual(SERIES);
    expect(s.get('reward/mean')!.map((p) => p[0])).toEqual([1, 2, 3, 4]);
  });

  it('names the file and line of a bad row', async () => {
    const file = join(dir, 'bad.jsonl');
    await writeFile(file, '{"step":1}\nnot json\n');
    expect(() => readMetricsJsonl(file)).toThrow(/bad\.jsonl:2: invalid JSON/);
  });

  it('draws one SVG per series and the eval table, in a self-contained document', async () => {
    const other = rows.map((r) => ({ ...r, 'reward/mean': 0.05 * r.step }));
    const path = join(dir, 'report.html');
    writeReport(path, {
      title: 'test <report>',
      notes: ['a & b'],
      tables: [{ title: 'eval', columns: ['model', 'pass@1', 'pass@4'], rows: [['before', 0.25, 0.5], ['after GTR', 0.4, 0.625]] }],
      sections: [{ title: 'RL', runs: [{ name: 'GTR', rows }, { name: 'GRPO', rows: other }] }],
    });
    const html = await readFile(path, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    expect(html.match(/<svg /g)).toHaveLength(SERIES.length);
    expect(html.match(/<\/svg>/g)).toHaveLength(SERIES.length);
    for (const k of SERIES) expect(html).toContain(`<title>${k}</title>`);
    expect(html.match(/<polyline /g)!.length).toBe(2 * SERIES.length);
    expect(html).toContain('<td>after GTR</td><td>0.400</td><td>0.625</td>');
    expect(html).toContain('test &lt;report&gt;');
    expect(html).toContain('a &amp; b');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    for (const tag of ['table', 'figure', 'div', 'svg', 'h2']) {
      expect((html.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length).toBe((html.match(new RegExp(`</${tag}>`, 'g')) ?? []).length);
    }
  });

  it('handles a single point and a constant series', () => {
    const html = renderReport({ title: 't', sections: [{ title: 's', runs: [{ name: 'a', rows: [{ step: 1, x: 3 }] }] }] });
    expect(html.match(/<svg /g)).toHaveLength(1);
    expect(html).toContain('<circle');
    expect(html).not.toContain('NaN');
  });
});
