// The transition benchmark: its measures on hand-made curves (labelled cases), and a smoke run of
// the whole pipeline (tiny world, 2 algorithms x 2 seeds, 4 steps through the A, B, A schedule):
// JSON and HTML written, every run's curve holds both modes at every eval point. The smoke checks
// the plumbing, not what is learned. The report's plots on hand-made runs: one band and one mean
// line per algorithm, one marker per switch, coordinates worked out by hand.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SMOKE_CONFIG,
  measureSwitch,
  pairedVsGtr,
  runTransitionBench,
  withBaseline,
  summarize,
  switchesOf,
  type CurvePoint,
  type RunResult,
  type TransitionResults,
} from '../src/transition/bench.js';
import { pairedMarkdown, renderTransitionReport } from '../src/transition/report.js';

describe('transition measures', () => {
  const phases = [
    { mode: 'A' as const, steps: 2 },
    { mode: 'B' as const, steps: 6 },
    { mode: 'A' as const, steps: 4 },
  ];
  const sw = switchesOf(phases);
  it('finds the switches', () => {
    expect(sw).toEqual([
      { index: 0, from: 'A', to: 'B', atStep: 3, phaseSteps: 6 },
      { index: 1, from: 'B', to: 'A', atStep: 9, phaseSteps: 4 },
    ]);
  });
  // Eval every 2 steps; B rises after the switch at step 3 (steps 3..8), A comes back after step 9.
  const curve: CurvePoint[] = [
    { step: 0, A: 0.9, B: 0.1 },
    { step: 2, A: 0.9, B: 0.0 },
    { step: 4, A: 0.7, B: 0.2 },
    { step: 6, A: 0.3, B: 0.5 },
    { step: 8, A: 0.1, B: 0.8 },
    { step: 10, A: 0.2, B: 0.6 },
    { step: 12, A: 0.6, B: 0.1 },
  ];
  it('reads steps to target, new-mode accuracy and retention', () => {
    // B >= 0.5 first at step 6 = 4 steps after the phase began (step 3 is its 1st step).
    expect(measureSwitch(curve, sw[0]!, 0.5, 4)).toEqual({ stepsToTarget: 4, newAccuracy: 0.5, retention: 0.3 });
    // K = 3 steps after the switch is step 5: the last eval at or before it (step 4).
    expect(measureSwitch(curve, sw[0]!, 0.5, 3)).toEqual({ stepsToTarget: 4, newAccuracy: 0.2, retention: 0.7 });
    // A never reaches 0.7 in its last phase (steps 9..12).
    expect(measureSwitch(curve, sw[1]!, 0.7, 2)).toEqual({ stepsToTarget: null, newAccuracy: 0.2, retention: 0.6 });
  });
  it('summarizes per algorithm, counting a missed target as the phase length', () => {
    const runs: RunResult[] = [0, 1].map((seed) => ({
      algo: 'gtr',
      seed,
      curve,
      seconds: 1,
      switches: [
        { stepsToTarget: seed === 0 ? 2 : null, newAccuracy: 0.5 + seed * 0.2, retention: 0.3 },
        { stepsToTarget: 4, newAccuracy: 0.2, retention: 0.6 },
      ],
    }));
    const s = summarize(runs, sw).gtr!;
    expect(s[0]!.stepsToTarget.mean).toBe(4); // (2 + 6) / 2
    expect(s[0]!.notReached).toBe(1);
    expect(s[0]!.newAccuracy.mean).toBeCloseTo(0.6, 12);
    // t(0.975, 1) = 12.7062047361747 (scipy), sd = 0.141421356, n = 2
    expect(s[0]!.newAccuracy.halfWidth).toBeCloseTo((12.706204736174694 * Math.SQRT2 * 0.1) / Math.SQRT2, 9);
    expect(s[1]!.retention.halfWidth).toBe(0);
  });
});

describe('differences from GTR paired by seed', () => {
  const sw = switchesOf([
    { mode: 'A', steps: 5 },
    { mode: 'B', steps: 35 },
    { mode: 'A', steps: 30 },
  ]);
  const run = (algo: 'gtr' | 'pearson', seed: number, steps: number | null, acc: number): RunResult => ({
    algo,
    seed,
    curve: [],
    seconds: 1,
    switches: [
      { stepsToTarget: steps, newAccuracy: acc, retention: 0.5 },
      { stepsToTarget: 10, newAccuracy: 0.5, retention: 0.2 },
    ],
  });
  const gtr = [19, 19, 25, 25, 25];
  const other = [22, 28, 19, 28, null]; // the last never reached the target: counts as 35
  const accG = [0.2, 0.2, 0.3, 0.1, 0.1];
  const accO = [0.3, 0.2, 0.1, 0.4, 0.2];
  const runs = [1, 2, 3, 4, 5].flatMap((seed, i) => [
    run('gtr', seed, gtr[i]!, accG[i]!),
    run('pearson', seed, other[i]!, accO[i]!),
  ]);
  it('per seed (algorithm - GTR), mean ± t half-width (reference: scipy)', () => {
    const p = pairedVsGtr(runs, sw)!.pearson!;
    // differences [3, 9, -6, 3, 10]: mean 3.8, half-width t(0.975, 4) * sd / sqrt(5) = 7.921388136969368
    expect(p[0]!.stepsToTarget.mean).toBeCloseTo(3.8, 12);
    expect(p[0]!.stepsToTarget.halfWidth).toBeCloseTo(7.921388136969368, 9);
    // differences [0.1, 0, -0.2, 0.3, 0.1]: mean 0.06, half-width 0.22555946662990403
    expect(p[0]!.newAccuracy.mean).toBeCloseTo(0.06, 12);
    expect(p[0]!.newAccuracy.halfWidth).toBeCloseTo(0.22555946662990403, 9);
    expect(p[1]!.stepsToTarget).toMatchObject({ n: 5, mean: 0, halfWidth: 0 });
    expect(
      pairedMarkdown({ switches: sw, config: { target: 0.4, fixedSteps: 15 }, pairedVsGtr: { pearson: p } } as never),
    ).toContain('| Pearson | +3.8 ± 7.9 | +0.06 ± 0.23 | 0.00 ± 0.00 |');
  });
  it('pairs only the seeds both ran, and needs GTR and two pairs', () => {
    const some = runs.filter((r) => !(r.algo === 'gtr' && r.seed === 5));
    expect(pairedVsGtr(some, sw)!.pearson![0]!.stepsToTarget.n).toBe(4);
    expect(
      pairedVsGtr(
        runs.filter((r) => r.algo !== 'gtr'),
        sw,
      ),
    ).toBeUndefined();
    expect(
      pairedVsGtr(
        runs.filter((r) => r.seed === 1),
        sw,
      ),
    ).toBeUndefined();
  });
});

describe('a GTR-only variant against a baseline sweep', () => {
  const sw = switchesOf([
    { mode: 'A', steps: 2 },
    { mode: 'B', steps: 4 },
  ]);
  const run = (algo: 'gtr' | 'kl', seed: number, steps: number): RunResult => ({
    algo,
    seed,
    curve: [],
    seconds: 1,
    switches: [{ stepsToTarget: steps, newAccuracy: 0.5, retention: 0.5 }],
  });
  const results = (
    algos: ('gtr' | 'kl')[],
    config: Partial<typeof SMOKE_CONFIG>,
    runs: RunResult[],
  ): TransitionResults => ({
    date: '2026-11-29',
    device: { kind: 'cpu', cpus: 2, model: 'test' },
    config: { ...SMOKE_CONFIG, ...config, algos },
    warmStart: { A: 0.9, B: 0.1, sftSeconds: 1, lastNll: 1 },
    switches: sw,
    runs,
    summary: {},
    seconds: 1,
  });
  const base = results(['gtr', 'kl'], {}, [run('gtr', 1, 3), run('gtr', 2, 3), run('kl', 1, 4), run('kl', 2, 2)]);
  it('borrows the runs of the algorithms the variant did not run, and records where from', () => {
    const v = results(['gtr'], { sigma: 0.5 }, [run('gtr', 1, 1), run('gtr', 2, 2)]);
    const m = withBaseline(v, base, 'base.json');
    expect(m.runs.map((r) => `${r.algo}${r.seed}`)).toEqual(['gtr1', 'gtr2', 'kl1', 'kl2']);
    expect(m.baseline).toEqual({ file: 'base.json', algos: ['kl'] });
    // kl - gtr per seed: 4 - 1, 2 - 2
    expect(pairedVsGtr(m.runs, sw)!.kl![0]!.stepsToTarget.mean).toBe(1.5);
  });
  it('refuses settings that the other algorithms read, a different warm start, or a variant that is not GTR-only', () => {
    expect(() => withBaseline(results(['gtr'], { lr: 1 }, []), base, 'base.json')).toThrow(
      /base\.json: its settings differ in lr/,
    );
    expect(() =>
      withBaseline({ ...results(['gtr'], {}, []), warmStart: { ...base.warmStart, A: 0.5 } }, base, 'b'),
    ).toThrow(/warm start differs/);
    expect(() => withBaseline(results(['gtr', 'kl'], {}, []), base, 'b')).toThrow(/GTR-only/);
  });
});

describe('transition report plots', () => {
  const phases = [
    { mode: 'A' as const, steps: 2 },
    { mode: 'B' as const, steps: 6 },
    { mode: 'A' as const, steps: 4 },
  ];
  const sw = switchesOf(phases);
  const curve = (d: number): CurvePoint[] =>
    [0, 4, 8, 12].map((step, i) => ({ step, A: [0.9, 0.5, 0.2, 0.7][i]! - d, B: [0.1, 0.4, 0.8, 0.3][i]! - d }));
  const runs: RunResult[] = [
    { algo: 'gtr', seed: 0, curve: curve(0), switches: [], seconds: 1 },
    { algo: 'gtr', seed: 1, curve: curve(0.1), switches: [], seconds: 1 },
    { algo: 'grpo', seed: 0, curve: curve(-0.05), switches: [], seconds: 1 },
    { algo: 'grpo', seed: 1, curve: curve(-0.05), switches: [], seconds: 1 },
  ];
  for (const r of runs) r.switches = sw.map((s) => measureSwitch(r.curve, s, 0.5, 4));
  const results: TransitionResults = {
    date: '2026-11-29',
    device: { kind: 'cpu', cpus: 2, model: 'test' },
    config: { ...SMOKE_CONFIG, algos: ['gtr', 'grpo'], seeds: [0, 1], phases, target: 0.5, fixedSteps: 4 },
    warmStart: { A: 0.9, B: 0.1, sftSeconds: 1, lastNll: 1 },
    switches: sw,
    runs,
    summary: summarize(runs, sw),
    seconds: 60,
  };
  const svgs = renderTransitionReport(results).match(/<svg [\s\S]*?<\/svg>/g)!;

  it('per mode, one band and one mean line per algorithm and one marker per switch', () => {
    expect(svgs).toHaveLength(2);
    for (const svg of svgs) {
      expect(svg.match(/<polygon class="band"/g)).toHaveLength(2);
      expect(svg.match(/<polyline class="mean"/g)).toHaveLength(2);
      // 640 x 300 px, margins L 48, R 10: RL step s of 12 at 48 + 48.5 s; the switches after steps 2 and 8.
      expect([...svg.matchAll(/<line class="marker" x1="([^"]*)"/g)].map((m) => m[1])).toEqual(['145.0', '436.0']);
      expect(svg).toContain('>A→B</text>');
      expect(svg).toContain('>B→A</text>');
      expect(svg).toContain('>GTR</text>');
      expect(svg).toContain('>GRPO (clip only)</text>');
    }
  });

  it('draws the same numbers: mean over seeds, 95% t band clipped to [0, 1]', () => {
    // GTR, mode A, step 0: seeds 0.9 and 0.8, mean 0.85 at y = 22 + 250 (1 - 0.85) = 59.5; half-width
    // t(0.975, 1) sd / sqrt 2 = 12.7062047 x 0.05 = 0.6353 (scipy), so hi clips to 1 (y 22.0) and
    // lo = 0.2147 (y 218.3). GRPO's two seeds agree (0.95): a zero-width band on its mean.
    const gtr = svgs[0]!.match(/<polygon class="band" points="([^"]*)"/)![1]!.split(' ');
    expect(gtr).toHaveLength(8);
    expect(gtr[0]).toBe('48.0,22.0');
    expect(gtr.at(-1)).toBe('48.0,218.3');
    const grpo = [...svgs[0]!.matchAll(/<polygon class="band" points="([^"]*)"/g)][1]![1]!.split(' ');
    expect([grpo[0], grpo.at(-1)]).toEqual(['48.0,34.5', '48.0,34.5']);
    const means = [...svgs[0]!.matchAll(/<polyline class="mean"[^>]* points="([^"]*)"/g)].map(
      (m) => m[1]!.split(' ')[0],
    );
    expect(means).toEqual(['48.0,59.5', '48.0,34.5']); // GRPO: 0.95 at y = 22 + 250 x 0.05
  });
});

const scratch = mkdtempSync(join(tmpdir(), 'gtr-transition-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('transition benchmark smoke', () => {
  it('runs the tiny configuration end to end and writes the JSON and the report', { timeout: 120_000 }, async () => {
    const r = await runTransitionBench(scratch, SMOKE_CONFIG, () => {});
    expect(r.runs.map((x) => `${x.algo}${x.seed}`).sort()).toEqual(['grpo1', 'grpo2', 'gtr1', 'gtr2']);
    for (const run of r.runs) {
      expect(run.curve.map((p) => p.step)).toEqual([0, 1, 2, 3, 4]);
      for (const p of run.curve) for (const m of ['A', 'B'] as const) expect(p[m]).toBeGreaterThanOrEqual(0);
      expect(run.switches).toHaveLength(2);
    }
    expect(Object.keys(r.summary).sort()).toEqual(['grpo', 'gtr']);
    expect(r.device.kind).toBe('cpu');
    const json = JSON.parse(readFileSync(join(scratch, 'transition.json'), 'utf8'));
    expect(json.summary.gtr[0].switch).toMatchObject({ from: 'A', to: 'B', atStep: 2 });
    expect(typeof json.date).toBe('string');
    const html = readFileSync(join(scratch, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).toContain('A→B');
    expect(html).toContain('GRPO (clip only)');
  });
});
