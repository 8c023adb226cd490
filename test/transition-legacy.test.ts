// The 2026-11-29 transition benchmark's measures (kept to re-read its committed results), on
// hand-made curves (labelled cases), with the labels issue #30 fixed: the fixed-point column names
// the step it was read at, a missed target is counted at the phase's last observed step, a
// variant's page names its changed settings. The report's plots on hand-made runs: one band and
// one mean line per algorithm, one marker per switch, coordinates worked out by hand.
import { describe, expect, it } from 'vitest';
import {
  FULL_CONFIG,
  measureSwitch,
  pairedVsGtr,
  recomputeSummaries,
  withBaseline,
  summarize,
  switchesOf,
  type CurvePoint,
  type RunResult,
  type TransitionResults,
} from '../src/transition/legacy.js';
import { pairedMarkdown, renderTransitionReport, summaryMarkdown, variantOf } from '../src/transition/legacy-report.js';

const SMOKE_CONFIG = { ...FULL_CONFIG, algos: ['gtr', 'grpo'] as ('gtr' | 'grpo')[], seeds: [1, 2] };

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
    // The phase's evals are at steps 4, 6, 8: 2, 4 and 6 steps after the switch (base = step 2).
    expect(measureSwitch(curve, sw[0]!, 0.5, 4)).toEqual({
      stepsToTarget: 4,
      newAccuracy: 0.5,
      retention: 0.3,
      readAt: 4,
      lastObservable: 6,
    });
    // K = 3 steps after the switch is step 5: the last eval at or before it is step 4, 2 steps after.
    expect(measureSwitch(curve, sw[0]!, 0.5, 3)).toEqual({
      stepsToTarget: 4,
      newAccuracy: 0.2,
      retention: 0.7,
      readAt: 2,
      lastObservable: 6,
    });
    // A never reaches 0.7 in its last phase (steps 9..12; evals 10 and 12, 2 and 4 steps after base 8).
    expect(measureSwitch(curve, sw[1]!, 0.7, 2)).toEqual({
      stepsToTarget: null,
      newAccuracy: 0.2,
      retention: 0.6,
      readAt: 2,
      lastObservable: 4,
    });
  });
  it('the 2026-11-29 schedule: "after 15" is read 13 and 14 steps after, a miss is recorded at 34 and 29', () => {
    const sch = switchesOf(FULL_CONFIG.phases);
    const evals: CurvePoint[] = [{ step: 0, A: 0.9, B: 0.1 }];
    for (let s = 3; s <= 70; s += 3) evals.push({ step: s, A: 0.1, B: 0.1 });
    const m = sch.map((x) => measureSwitch(evals, x, 0.4, 15));
    expect(m.map((x) => [x.readAt, x.lastObservable, x.stepsToTarget])).toEqual([
      [13, 34, null],
      [14, 29, null],
    ]);
  });
  it('summarizes per algorithm, counting a missed target at the last observed step', () => {
    const runs: RunResult[] = [0, 1].map((seed) => ({
      algo: 'gtr',
      seed,
      curve,
      seconds: 1,
      switches: [
        {
          stepsToTarget: seed === 0 ? 2 : null,
          newAccuracy: 0.5 + seed * 0.2,
          retention: 0.3,
          readAt: 4,
          lastObservable: 5,
        },
        { stepsToTarget: 4, newAccuracy: 0.2, retention: 0.6, readAt: 4, lastObservable: 4 },
      ],
    }));
    const s = summarize(runs, sw).gtr!;
    expect(s[0]!.stepsToTarget.mean).toBe(3.5); // (2 + 5) / 2: the miss counts at 5, the last observed
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
      { stepsToTarget: steps, newAccuracy: acc, retention: 0.5, readAt: 13, lastObservable: 34 },
      { stepsToTarget: 10, newAccuracy: 0.5, retention: 0.2, readAt: 14, lastObservable: 29 },
    ],
  });
  const gtr = [19, 19, 25, 25, 25];
  const other = [22, 28, 19, 28, null]; // the last never reached the target: counts as 34
  const accG = [0.2, 0.2, 0.3, 0.1, 0.1];
  const accO = [0.3, 0.2, 0.1, 0.4, 0.2];
  const runs = [1, 2, 3, 4, 5].flatMap((seed, i) => [
    run('gtr', seed, gtr[i]!, accG[i]!),
    run('pearson', seed, other[i]!, accO[i]!),
  ]);
  it('per seed (algorithm - GTR), mean ± t half-width (reference: scipy)', () => {
    const p = pairedVsGtr(runs, sw)!.pearson!;
    // differences [3, 9, -6, 3, 9]: mean 3.6, half-width t(0.975, 4) * sd / sqrt(5) (scipy) = 7.6339619145
    expect(p[0]!.stepsToTarget.mean).toBeCloseTo(3.6, 12);
    expect(p[0]!.stepsToTarget.halfWidth).toBeCloseTo(7.633961914475111, 9);
    // differences [0.1, 0, -0.2, 0.3, 0.1]: mean 0.06, half-width 0.22555946662990403
    expect(p[0]!.newAccuracy.mean).toBeCloseTo(0.06, 12);
    expect(p[0]!.newAccuracy.halfWidth).toBeCloseTo(0.22555946662990403, 9);
    expect(p[1]!.stepsToTarget).toMatchObject({ n: 5, mean: 0, halfWidth: 0 });
    expect(
      pairedMarkdown({
        switches: sw,
        config: { target: 0.4, fixedSteps: 15 },
        runs,
        pairedVsGtr: { pearson: p },
      } as never),
    ).toContain('| Pearson | +3.6 ± 7.6 | +0.06 ± 0.23 | 0.00 ± 0.00 |');
    const md = pairedMarkdown({
      switches: sw,
      config: { target: 0.4, fixedSteps: 15 },
      runs,
      pairedVsGtr: { pearson: p },
    } as never);
    expect(md).toContain('B acc. 13 steps after');
    expect(md).toContain('A acc. 14 steps after');
    expect(md).not.toContain('after 15');
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
    switches: [{ stepsToTarget: steps, newAccuracy: 0.5, retention: 0.5, readAt: 4, lastObservable: 4 }],
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

describe('re-rendering a 2026-11-29 results file', () => {
  const sw = switchesOf(FULL_CONFIG.phases);
  const evals = (hitB: number | null): CurvePoint[] => {
    const c: CurvePoint[] = [{ step: 0, A: 0.9, B: 0.1 }];
    for (let s = 3; s <= 70; s += 3) c.push({ step: s, A: 0.5, B: hitB !== null && s >= hitB ? 0.6 : 0.1 });
    return c;
  };
  // An old file: switches recorded before issue #30 (a miss stored as null, no readAt).
  const old = {
    date: '2026-11-29',
    device: { kind: 'cpu', cpus: 2, model: 'test' },
    config: { ...FULL_CONFIG, algos: ['gtr', 'grpo'], seeds: [1, 2], sigma: 0.1 },
    warmStart: { A: 0.9, B: 0.1, sftSeconds: 1, lastNll: 1 },
    switches: sw,
    runs: [
      { algo: 'gtr', seed: 1, curve: evals(9), switches: [], seconds: 1 },
      { algo: 'gtr', seed: 2, curve: evals(null), switches: [], seconds: 1 },
      { algo: 'grpo', seed: 1, curve: evals(12), switches: [], seconds: 1 },
      { algo: 'grpo', seed: 2, curve: evals(null), switches: [], seconds: 1 },
    ],
    summary: {},
    seconds: 1,
  } as unknown as TransitionResults;
  const r = recomputeSummaries(old);
  it('re-reads the measures from the curves: a miss counts at 34, the hit at its eval', () => {
    // B >= 0.4 at step 9 = 4 steps after base 5; the miss counts at 34: mean (4 + 34) / 2.
    expect(r.summary.gtr![0]!.stepsToTarget.mean).toBe(19);
    expect(r.summary.gtr![0]!.notReached).toBe(1);
    expect(r.runs[0]!.switches[0]).toMatchObject({ readAt: 13, lastObservable: 34, stepsToTarget: 4 });
  });
  it("names the variant's changed setting in the title and the heading, and the columns' real steps", () => {
    expect(variantOf(r)).toBe('sigma 0.1');
    const html = renderTransitionReport(r);
    expect(html).toContain('<title>GTR-RL behavior-transition benchmark (sigma 0.1)</title>');
    expect(html).toContain('variant: sigma 0.1</h1>');
    expect(html).toContain('B 13 steps after (last eval at or before 15)');
    expect(html).toContain('counted as 34, the last observed');
    expect(summaryMarkdown(r)).toContain('steps to 0.4 (not reached, counted as 34)');
    expect(variantOf({ ...r, config: { ...r.config, sigma: FULL_CONFIG.sigma } })).toBe('');
  });
});
