// The transition experiment's registered analysis (src/transition/analysis.ts) on hand-made runs
// (endpoints worked out by hand: AUC, time to 0.5 censored at N, the trend over cycles; paired
// comparisons only over complete pairs; Holm within an endpoint), its report, and the CI smoke:
// the whole design driver on a toy model (2 warm starts x 2 seeds x 5 arms in 2 stages, seconds), resumed,
// and refused for a different design in the same directory.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyse, runEndpoints, slope, switchesOf } from '../src/transition/analysis.js';
import { tokenGradients, ARMS, armOf } from '../src/transition/arms.js';
import { SMOKE, alternatingPhases, runDesign, runFile, type Design } from '../src/transition/design.js';
import { renderExperimentReport, writeExperimentReport } from '../src/transition/report.js';
import type { RunRecord, StepRecord } from '../src/transition/run.js';
import { scratchDir } from './helpers/scratch.js';

const phases = alternatingPhases(1, 2, 2); // A 1, B 2, A 2: switches at steps 2 (A->B) and 4 (B->A)
const sw = switchesOf(phases);
const rec = (step: number, seqB: number, first = seqB): StepRecord => ({
  step,
  mode: null,
  seqA: 1 - seqB,
  seqB,
  firstA: 1 - first,
  firstB: first,
});
const run = (arm: string, warm: number, seed: number, b: number[], collapsed = false): RunRecord => ({
  arm,
  warm,
  seed,
  steps: b.map((v, i) => rec(i, v)),
  seconds: 1,
  collapsed,
});

describe('endpoints of one run', () => {
  it('finds the switches of the alternating schedule', () => {
    expect(sw).toEqual([
      { index: 0, from: 'A', to: 'B', atStep: 2, steps: 2 },
      { index: 1, from: 'B', to: 'A', atStep: 4, steps: 2 },
    ]);
    expect(() => armOf('nope')).toThrow(/unknown arm "nope"; valid: grpo, grpo-ch, gtr/);
  });
  it('AUC, time to 0.5 (censored at N = 2, the last observed step), trend', () => {
    // steps 0..5, p(B): switch 1 (A->B) reads steps 2, 3: 0.3, 0.6 -> AUC 0.45, hit at k = 2.
    // switch 2 (B->A) reads steps 4, 5: p(A) = 0.2, 0.4 -> AUC 0.3, never >= 0.5: censored at 2.
    const e = runEndpoints(run('gtr', 0, 1, [0.1, 0.1, 0.3, 0.6, 0.8, 0.6]), sw);
    expect(e.switches.map((s) => [s.time, s.event])).toEqual([
      [2, true],
      [2, false],
    ]);
    expect(e.switches[0]!.auc).toBeCloseTo(0.45, 12);
    expect(e.switches[1]!.auc).toBeCloseTo(0.3, 12);
    expect(e.auc).toBeCloseTo(0.375, 12);
    expect(e.restrictedTime).toBe(2);
    expect(e.trend).toBeCloseTo(-0.15, 12);
    // One switch per direction: no trend within a direction.
    expect([e.trendToB, e.trendToA]).toEqual([0, 0]);
    expect(() => runEndpoints(run('gtr', 0, 1, [0.1, 0.1, 0.3]), sw)).toThrow(/no record of step 3/);
  });
  it('slope is the least-squares slope against 1..n', () => {
    expect(slope([1, 2, 3])).toBeCloseTo(1, 12);
    expect(slope([0.2, 0.1, 0.3, 0.1])).toBeCloseTo(-0.01, 12); // numpy.polyfit([1,2,3,4], y, 1)[0]
    expect(slope([5])).toBe(0);
  });
  it('per-token gradients: the surrogate is cut where the clip binds, each penalty its f(r)', () => {
    const gtr = ARMS.gtr!;
    expect(tokenGradients(gtr, 1, 1)).toEqual({ pg: -1, penalty: 0 });
    expect(tokenGradients(gtr, 1.3, 1).pg).toBe(0); // clipped high at 1.2
    expect(tokenGradients(ARMS['grpo-ch']!, 1.25, 1).pg).toBeCloseTo(-1.25, 12); // clip-higher 1.28
    expect(tokenGradients(gtr, 1.2, 1).penalty).toBeCloseTo(1.2 * 0.2 * Math.exp(-0.5), 12);
    expect(tokenGradients(ARMS.kl!, 2, -1).penalty).toBeCloseTo(2 * Math.log(2), 12);
    expect(tokenGradients(ARMS['pearson-m']!, 1.5, 1).penalty).toBeCloseTo(0.5 * 2 * 1.5 * 0.5, 12);
  });
});

describe('the analysis over runs', () => {
  const d: Design = {
    ...SMOKE,
    arms: ['gtr', 'grpo'],
    stages: undefined,
    warmStarts: [0, 1],
    seeds: [1, 2],
    run: { ...SMOKE.run, phases },
  };
  const base = [0.1, 0.1, 0.3, 0.6, 0.8, 0.6];
  const runs: RunRecord[] = [];
  // gtr's p(B) after the A->B switch is higher by 0.1 + 0.02 k than grpo's in pair k (4 pairs).
  [0, 1].forEach((w) =>
    [1, 2].forEach((s) => {
      const k = 2 * w + s - 1;
      runs.push(
        run(
          'gtr',
          w,
          s,
          base.map((v, i) => (i === 2 || i === 3 ? v + 0.1 + 0.02 * k : v)),
        ),
      );
      runs.push(run('grpo', w, s, base, k === 0));
    }),
  );
  runs.push(run('gtr', 0, 3, base)); // an incomplete pair: left out
  const a = analyse(d, runs, { kind: 'cpu', cpus: 2, model: 'test', note: 'test' }, '2026-12-07T00:00:00Z');
  it('uses complete pairs only, and compares only the pairs named in advance', () => {
    expect(a.completePairsByStage).toEqual([4]);
    expect(a.completePairs).toBe(4);
    expect(a.arms.map((x) => [x.arm, x.runs, x.collapsed])).toEqual([
      ['gtr', 4, 0],
      ['grpo', 4, 1],
    ]);
    const c = a.comparisons.filter((x) => x.endpoint === 'auc');
    expect(c.map((x) => `${x.a}-${x.b}`)).toEqual(['gtr-grpo']);
    // Per pair the AUC difference is (0.1 + 0.02 k) / 2 (one of two switches): mean 0.065.
    expect(c[0]!.mean).toBeCloseTo(0.065, 12);
    expect(c[0]!.pairs.map((p) => p.diff.toFixed(3))).toEqual(['0.050', '0.060', '0.070', '0.080']);
    // 4 pairs, all positive: exact sign-flip p = 2 / 16; one comparison: Holm leaves it.
    expect(c[0]!.p).toBe(0.125);
    expect(c[0]!.pExact).toBe(true);
    expect(c[0]!.pHolm).toBe(0.125);
    expect(c[0]!.holds).toBe(false);
    expect(a.headline).toMatch(/no comparison holds after Holm; not shown for gtr - grpo \+0\.065/);
  });
  it('reports KM per arm with the switches censored at N', () => {
    const g = a.arms.find((x) => x.arm === 'grpo')!;
    // grpo: switch 1 hits at k = 2 (0.6), switch 2 censored (p(A) 0.2, 0.4): 4 of 8 censored.
    expect([g.switchesCensored, g.switchesTotal]).toEqual([4, 8]);
    expect(g.km.map((s) => [s.time, s.events, s.censored, s.survival])).toEqual([[2, 4, 4, 0.5]]);
    expect(g.kmMedian).toBe(2);
  });
  it('renders the headline, every arm setting, and one dot per pair in the paired plot', () => {
    const html = renderExperimentReport(a);
    expect(html).toContain(a.headline.replace(/'/g, '&#39;').slice(0, 40));
    expect(html).toContain('<td>gtr</td><td>GTR s0.2 mixture</td><td>gtr</td><td>mixture</td><td>0.2</td><td>1</td>');
    expect(html).toContain('<td>grpo</td><td>GRPO clip 0.2</td><td>none</td><td>-</td>');
    const plots = html.match(/<svg [^>]*class="paired"[\s\S]*?<\/svg>/g)!;
    expect(plots).toHaveLength(4); // one per endpoint
    expect(plots[0]!.match(/<circle class="pair"/g)).toHaveLength(4);
  });
});

describe('transition experiment smoke (CI)', () => {
  const out = scratchDir('gtr-transition-smoke-');
  it('runs the toy design end to end, resumes, and writes JSON and HTML', { timeout: 300_000 }, async () => {
    const logs: string[] = [];
    const runs = await runDesign(out, SMOKE, (l) => logs.push(l));
    expect(runs).toHaveLength(20);
    const total = SMOKE.run.phases.reduce((s, p) => s + p.steps, 0);
    for (const r of runs) {
      expect(r.steps.map((s) => s.step)).toEqual(Array.from({ length: total + 1 }, (_, i) => i));
      for (const s of r.steps) {
        for (const v of [s.seqA, s.seqB, s.firstA, s.firstB]) expect(v >= 0 && v <= 1).toBe(true);
        expect(s.seqA).toBeLessThanOrEqual(s.firstA + 1e-6);
      }
      expect(r.steps[1]!.ratio!.p50).toBeGreaterThan(0);
    }
    // The same seed and warm start give every arm the same warm-start record (step 0).
    const w0 = runs.filter((r) => r.warm === 0 && r.seed === 1).map((r) => r.steps[0]!.seqB);
    expect(new Set(w0).size).toBe(1);
    const f = runFile(out, 'gtr', 0, 1);
    const mtime = statSync(f).mtimeMs;
    const again: string[] = [];
    await runDesign(out, SMOKE, (l) => again.push(l));
    expect(again.filter((l) => l.includes('/20'))).toEqual([]);
    expect(statSync(f).mtimeMs).toBe(mtime);
    await expect(runDesign(out, { ...SMOKE, seeds: [1] }, () => {})).rejects.toThrow(/different design/);
    const a = writeExperimentReport(out);
    expect(a.completePairs).toBe(4);
    expect(a.comparisons.filter((c) => c.endpoint === 'auc').map((c) => `${c.a}-${c.b}`)).toEqual([
      'gtr-grpo',
      'gtr-kl',
      'gtr-hi-grpo-hi',
    ]);
    expect(a.completePairsByStage).toEqual([4, 4]);
    // The second stage ran after the first: every first-stage run file is older than any second-stage one.
    const t = (arm: string, w: number, s: number) => statSync(runFile(out, arm, w, s)).mtimeMs;
    expect(t('kl', 1, 2)).toBeLessThanOrEqual(t('gtr-hi', 0, 1));
    expect(existsSync(join(out, 'transition.html'))).toBe(true);
    const json = JSON.parse(readFileSync(join(out, 'transition.json'), 'utf8'));
    expect(json.design.name).toBe('smoke');
    expect(typeof json.headline).toBe('string');
  });
});
