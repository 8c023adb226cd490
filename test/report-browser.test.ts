/**
 * The interactive report in a real browser (Debian's `chromium`, driven by playwright-core): the
 * page loads without console errors, draws one uPlot chart per plot, and hovering a chart shows the
 * value of the series at that step in its legend (checked against the data the page was made
 * from); the smoothing slider, the log scale, the time axis and the sample search work. Skipped,
 * saying so, where no chromium is installed (`.ci/run` installs it with apt-get).
 * GTR_REPORT_SCREENSHOT=FILE also saves a screenshot of the page.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport, type ReportRun } from '../src/report/html.js';

const chromium = process.env.GTR_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(chromium);
if (!hasChromium) console.warn(`skipping the browser test of the report: no ${chromium} (apt-get install chromium)`);

const scratch = mkdtempSync(join(tmpdir(), 'gtr-report-browser-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Two runs of 40 steps with known values: reward rises, entropy falls (positive), step times vary.
const run = (name: string, offset: number): ReportRun => ({
  name,
  rows: Array.from({ length: 40 }, (_, i) => ({
    step: i + 1,
    kind: 'train',
    'critic/score/mean': Math.round((offset + 0.02 * i + 0.1 * Math.sin(i)) * 1000) / 1000,
    'actor/entropy': Math.round((2 - 0.03 * i + offset) * 1000) / 1000,
    'timing_s/step': 2 + (i % 3),
  })),
});
const runs = [run('gtr', 0.1), run('grpo', 0)];
const samples = [
  {
    run: 'gtr',
    step: 1,
    id: 'dapo-1',
    prompt: 'What is 2+2?',
    response: 'Answer: 4',
    gold: '4',
    extracted: '4',
    reward: 1,
  },
  {
    run: 'gtr',
    step: 2,
    id: 'dapo-2',
    prompt: 'Find x if x+1=3.',
    response: 'Answer: 7',
    gold: '2',
    extracted: '7',
    reward: -1,
  },
];

describe.skipIf(!hasChromium)('report.html in headless chromium', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let browser: any, page: any;
  const errors: string[] = [];
  beforeAll(async () => {
    const file = join(scratch, 'report.html');
    writeFileSync(
      file,
      renderReport({
        title: 'browser test',
        sections: [{ title: 'Training', runs, lead: ['critic/score/mean'], smooth: ['critic/score/mean'] }],
        samples,
      }),
    );
    const { chromium: pw } = await import('playwright-core');
    browser = await pw.launch({
      executablePath: chromium,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m: { type(): string; text(): string }) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e: Error) => errors.push(e.message));
    page.on('request', (r: { url(): string }) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) errors.push(`fetched ${r.url()}`);
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('.uplot');
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('loads without console errors and draws a uPlot chart per plot', async () => {
    expect(await page.locator('figure[data-plot]').count()).toBe(3);
    expect(await page.locator('.uplot').count()).toBe(3);
    if (process.env.GTR_REPORT_SCREENSHOT)
      await page.screenshot({ path: process.env.GTR_REPORT_SCREENSHOT, fullPage: false });
    expect(errors).toEqual([]);
  });

  it('hovering a chart shows the value at that step in the legend', async () => {
    const chart = page.locator('figure[data-title="actor/entropy"] .uplot');
    const over = chart.locator('.u-over');
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
    const values: string[] = await chart.locator('.u-legend .u-value').allTextContents();
    const labels: string[] = await chart.locator('.u-legend .u-label').allTextContents();
    const step = Number(values[0]);
    expect(Number.isInteger(step) && step >= 1 && step <= 40, `x legend "${values[0]}"`).toBe(true);
    const raw = labels.indexOf('gtr (raw)');
    expect(raw).toBeGreaterThan(0);
    const expected = runs[0]!.rows[step - 1]!['actor/entropy'] as number;
    expect(Number(values[raw])).toBeCloseTo(expected, 2);
    expect(errors).toEqual([]);
  });

  it('smoothing, log scale, the time axis and sample search respond', async () => {
    await page.locator('#smoothing').fill('0');
    expect(await page.locator('figure[data-title="actor/entropy"] .u-legend .u-label').allTextContents()).not.toContain(
      'gtr (raw)',
    );
    await page.locator('#logscale').check();
    expect(await page.locator('figure[data-title="actor/entropy"] .u-title').textContent()).toBe('actor/entropy (log)');
    // The reward crosses no zero here but is not positive everywhere in general: only positive series go log.
    await page.locator('#xaxis').selectOption('time');
    // Axes are drawn on the canvas; the legend names the x series and shows its value on hover.
    const chart = page.locator('figure[data-title="actor/entropy"] .uplot');
    const box = await chart.locator('.u-over').boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
    const labels: string[] = await chart.locator('.u-legend .u-label').allTextContents();
    const values: string[] = await chart.locator('.u-legend .u-value').allTextContents();
    expect(labels[0]).toBe('time (s)');
    const cumulative = runs[0]!.rows.map((_, n) =>
      runs[0]!.rows.slice(0, n + 1).reduce((t, r) => t + (r['timing_s/step'] as number), 0),
    );
    expect(cumulative).toContain(Number(values[0]));
    await page.locator('#sample-search').fill('x+1=3');
    expect(await page.locator('#sample-count').textContent()).toBe('1 matching');
    expect(await page.locator('details.samples:visible').count()).toBe(1);
    expect(errors).toEqual([]);
  });
});
