// The HTML report renderer (src/report/html.ts): from a hand-made metrics.jsonl, one inline SVG per
// series that changes (runs drawn on shared axes), constant series folded into one table, key
// metrics first, moving averages, the eval table, the sample log, escaping, and a self-contained,
// balanced document; and the band plot (mean line over a shaded interval per series, markers),
// its coordinates checked against the frame's arithmetic done by hand.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  movingAverage,
  numericSeries,
  readMetricsJsonl,
  renderReport,
  svgBandPlot,
  svgPlot,
  writeReport,
} from '../src/report/html.js';

const dir = scratchDir('gtr-report-html-');

const rows = [1, 2, 3, 4].map((step) => ({
  step,
  kind: 'train',
  'actor/lr': 5e-4,
  'critic/score/mean': 0.1 * step,
  'critic/accuracy/mean': 0.1 * step,
  'response_length/mean': 20 - step,
  'actor/entropy': 1 / step,
  'actor/ratio/mean': 1 + 0.01 * step,
  'actor/pg_clipfrac': 0.02,
  'actor/penalty/mean': 0.001 * step,
  'actor/skipped': false,
  'actor/reason': 'none',
}));
const ALL = [
  'actor/lr',
  'critic/score/mean',
  'critic/accuracy/mean',
  'response_length/mean',
  'actor/entropy',
  'actor/ratio/mean',
  'actor/pg_clipfrac',
  'actor/penalty/mean',
];
const CONSTANT = ['actor/lr', 'actor/pg_clipfrac'];
const PLOTTED = ALL.filter((k) => !CONSTANT.includes(k));

/** The <title> of every SVG, in document order. */
const plotTitles = (html: string) => [...html.matchAll(/<svg [^>]*><title>([^<]*)<\/title>/g)].map((m) => m[1]);

describe('report renderer', () => {
  it('reads metrics.jsonl and finds every numeric series (booleans and strings left out)', async () => {
    const file = join(dir, 'metrics.jsonl');
    await writeFile(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n\n');
    const read = readMetricsJsonl(file);
    expect(read).toEqual(rows);
    const s = numericSeries(read);
    expect([...s.keys()]).toEqual(ALL);
    expect(s.get('critic/score/mean')!.map((p) => p[0])).toEqual([1, 2, 3, 4]);
  });

  it('names the file and line of a bad row', async () => {
    const file = join(dir, 'bad.jsonl');
    await writeFile(file, '{"step":1}\nnot json\n');
    expect(() => readMetricsJsonl(file)).toThrow(/bad\.jsonl:2: invalid JSON/);
  });

  it('moving average: trailing window, partial at the start', () => {
    const pts: [number, number][] = [
      [1, 1],
      [2, 3],
      [3, 5],
      [4, 7],
      [5, 0],
    ];
    expect(movingAverage(pts, 3)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 5],
      [5, 4],
    ]);
    expect(movingAverage(pts, 1)).toEqual(pts);
  });

  it('plots each changing series once, key metrics first, folds constants, overlays runs', async () => {
    const other = rows.map((r) => ({ ...r, 'critic/score/mean': 0.05 * r.step }));
    const path = join(dir, 'report.html');
    writeReport(path, {
      title: 'test <report>',
      notes: ['a & b'],
      tables: [
        {
          title: 'eval',
          columns: ['model', 'pass@1', 'pass@4'],
          rows: [
            ['before', 0.25, 0.5],
            ['after GTR', 0.4, 0.625],
          ],
        },
      ],
      sections: [
        {
          title: 'RL',
          runs: [
            { name: 'GTR', rows },
            { name: 'GRPO', rows: other },
          ],
          lead: ['critic/score/mean', 'critic/accuracy/mean', 'actor/pg_clipfrac'],
          smooth: ['critic/score/mean'],
        },
      ],
    });
    const html = await readFile(path, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    const titles = plotTitles(html);
    expect([...titles].sort()).toEqual([...PLOTTED].sort());
    expect(titles.slice(0, 2)).toEqual(['critic/score/mean', 'critic/accuracy/mean']); // lead order; the constant lead is folded
    // Constants: one folded table row each, with the value; no plot.
    expect(html).toContain('2 constant series (not plotted)');
    expect(html).toContain('<tr><td>actor/lr</td><td>5.00e-4</td></tr>');
    expect(html).toContain('<tr><td>actor/pg_clipfrac</td><td>0.020</td></tr>');
    // Two runs per plot; the smoothed one has a faint raw line and an average line per run.
    expect(html.match(/class="avg"/g)).toHaveLength(2);
    expect(html.match(/class="raw"/g)).toHaveLength(2);
    expect(html.match(/<polyline /g)!.length).toBe(2 * PLOTTED.length + 2);
    expect(html).toContain('<td>after GTR</td><td>0.400</td><td>0.625</td>');
    expect(html).toContain('test &lt;report&gt;');
    expect(html).toContain('a &amp; b');
    // Offline: scripts only inline (uPlot and the page's), nothing loaded from anywhere.
    expect(html).not.toMatch(/<script[^>]*\ssrc=|<link[^>]*\shref=|(src|href)="https?:/);
    const markup = html.replace(/<script\b[\s\S]*?<\/script>/g, '').replace(/<style\b[\s\S]*?<\/style>/g, '');
    for (const tag of ['table', 'figure', 'div', 'svg', 'h2', 'h3', 'details']) {
      expect((markup.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length).toBe(
        (markup.match(new RegExp(`</${tag}>`, 'g')) ?? []).length,
      );
    }
  });

  it('the sample log: one block per step, newest first, escaped, long texts cut', () => {
    const long = 'x'.repeat(5000);
    const html = renderReport({
      title: 't',
      sections: [],
      samples: [
        {
          run: 'a',
          step: 1,
          id: 'p1',
          prompt: 'What is 1+1?',
          response: '<b>2</b>',
          gold: '2',
          extracted: '2',
          reward: 1,
        },
        { run: 'a', step: 2, id: 'p2', prompt: 'Q', response: long, gold: '3', extracted: null, reward: -1 },
      ],
    });
    const steps = [...html.matchAll(/<summary>step (\d+) \((\d+)\)<\/summary>/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(steps).toEqual([
      [2, 1],
      [1, 1],
    ]);
    expect(html).toContain('<td class="text">&lt;b&gt;2&lt;/b&gt;</td><td>2</td><td>2</td><td>1</td>');
    expect(html).toContain('[... 1000 more characters]');
    expect(html).toContain('<td>p2</td>');
  });

  it('handles a single point and a constant series', () => {
    const html = renderReport({
      title: 't',
      sections: [{ title: 's', runs: [{ name: 'a', rows: [{ step: 1, x: 3 }] }] }],
    });
    expect(html.match(/<svg /g)).toHaveLength(1);
    expect(html).toContain('<circle');
    expect(html).not.toContain('NaN');
  });
});

describe('band plot', () => {
  // 320 x 190 px, margins L 48, R 10, T 22, B 28: x in [0, 10] maps to 48 + 26.2 x, y in [0, 1] to
  // 22 + 140 (1 - y).
  const series = [
    {
      name: 'GTR',
      points: [
        { x: 0, mean: 0.5, lo: 0.4, hi: 0.6 },
        { x: 10, mean: 0.8, lo: 0.7, hi: 0.9 },
      ],
    },
    { name: 'GRPO <clip>', points: [{ x: 5, mean: 0.3, lo: 0.2, hi: 0.4 }] },
    { name: 'no data', points: [] },
  ];
  const svg = svgBandPlot('accuracy', series, {
    xRange: [0, 10],
    yRange: [0, 1],
    markers: [
      { x: 4, label: 'A→B' },
      { x: 7, label: 'B→A' },
    ],
    reference: 0.5,
  });

  it('draws one band polygon and one mean mark per series with points, in the series colour', () => {
    const bands = [...svg.matchAll(/<polygon class="band" points="([^"]*)" fill="([^"]*)"/g)];
    expect(bands.map((m) => m[1])).toEqual([
      '48.0,78.0 310.0,36.0 310.0,64.0 48.0,106.0', // upper edge left to right, lower edge back
      '179.0,106.0 179.0,134.0',
    ]);
    expect(bands.map((m) => m[2])).toEqual(['#1f77b4', '#d62728']);
    expect([...svg.matchAll(/<polyline class="mean"[^>]* points="([^"]*)"/g)].map((m) => m[1])).toEqual([
      '48.0,92.0 310.0,50.0',
    ]);
    expect(svg).toContain('<circle class="mean" cx="179.0" cy="120.0" r="2" fill="#d62728"/>');
    expect(svg).toContain('GRPO &lt;clip&gt;');
    expect(svg).not.toContain('no data'); // an empty series is left out of plot and legend
  });

  it('marks each switch with a dashed vertical line and its label, and the reference line', () => {
    const markers = [...svg.matchAll(/<line class="marker" x1="([^"]*)" y1="22" x2="([^"]*)" y2="162"/g)];
    expect(markers.map((m) => [m[1], m[2]])).toEqual([
      ['152.8', '152.8'],
      ['231.4', '231.4'],
    ]);
    expect(svg).toContain('>A→B</text>');
    expect(svg).toContain('>B→A</text>');
    expect(svg).toContain('<line class="reference" x1="48" y1="92.0" x2="310" y2="92.0"');
  });

  it("shares the line plots' frame (same size, axes, title and tick style)", () => {
    const line = svgPlot('accuracy', [
      {
        name: 'GTR',
        points: [
          [0, 0],
          [10, 1],
        ],
      },
    ]);
    const frame = (s: string) => s.slice(0, s.indexOf('<line x1="48" y1="22"'));
    expect(frame(svg)).toBe(frame(line));
    expect(svg.match(/<svg /g)).toHaveLength(1);
    expect(svg.endsWith('</svg>')).toBe(true);
  });

  it('refuses a non-finite point or an interval that does not hold its mean, naming the series', () => {
    expect(() => svgBandPlot('t', [{ name: 'KL', points: [{ x: 1, mean: NaN, lo: 0, hi: 1 }] }])).toThrow(
      /series "KL" at x=1: .*finite/,
    );
    expect(() => svgBandPlot('t', [{ name: 'SPO', points: [{ x: 2, mean: 0.1, lo: 0.2, hi: 0.3 }] }])).toThrow(
      /series "SPO" at x=2: need lo <= mean <= hi/,
    );
    expect(() => svgBandPlot('t', [])).toThrow(/nothing to plot/);
  });
});
import { scratchDir } from './helpers/scratch.js';
