/**
 * The 2026-11-29 behavior-transition benchmark's measures, kept to re-read and re-render its
 * committed results (bench/results/transition-2026-11-29-cpu*.json) with the labels fixed in issue
 * #30: the "after 15" column names the step it was read at (the last eval at or before 15 steps
 * after the switch: 13 or 14 with evals every 3 steps), a missed target is recorded at the last
 * observable step of the phase (34, not the phase length 35), and a variant's page names the
 * settings it changed. Its runner (the `gtr train` loop with sampled accuracy every 3 steps) is
 * replaced by the experiment of docs/TRANSITION.md "Analysis plan" (./design.ts, ./run.ts).
 */
import { meanCi } from './stats.js';
import {
  ALGORITHMS,
  type AlgoKey,
  type CurvePoint,
  type PairedSummary,
  type RunResult,
  type SwitchInfo,
  type SwitchMeasure,
  type SwitchSummary,
  type TransitionConfig,
  type TransitionResults,
} from './legacy-results.js';

export * from './legacy-results.js';

/**
 * The 2026-11-29 sweep's settings (about 40 minutes on 2 shared CPU cores). lr 2e-4 with 4 epochs per step: at 1e-4 / 2 epochs the ratios stay within the clip
 * and no trust region acts; at 1e-3 every algorithm collapses within a few steps.
 */
export const FULL_CONFIG: TransitionConfig = {
  algos: ['gtr', 'grpo', 'kl', 'pearson', 'spo'],
  seeds: [1, 2, 3, 4, 5],
  phases: [
    { mode: 'A', steps: 5 },
    { mode: 'B', steps: 35 },
    { mode: 'A', steps: 30 },
  ],
  trainRows: 800,
  heldOut: 100,
  shareB: 0.1,
  worldSeed: 0,
  hidden: 128,
  layers: 2,
  sftSteps: 1200,
  sftBatch: 32,
  sftLr: 3e-3,
  prompts: 16,
  group: 8,
  lr: 2e-4,
  epochs: 4,
  miniBatches: 2,
  sigma: 0.2,
  beta: 1.0,
  evalEvery: 3,
  evalN: 1,
  target: 0.4,
  fixedSteps: 15,
};

/** The switches of a schedule (phase boundaries where the mode changes). */
export function switchesOf(phases: TransitionConfig['phases']): SwitchInfo[] {
  const out: SwitchInfo[] = [];
  let step = 1;
  phases.forEach((p, i) => {
    if (i > 0 && p.mode !== phases[i - 1]!.mode)
      out.push({ index: out.length, from: phases[i - 1]!.mode, to: p.mode, atStep: step, phaseSteps: p.steps });
    step += p.steps;
  });
  return out;
}

/**
 * The measures of one run's curve at one switch. The curve holds the warm start at step 0 and
 * eval points after steps; the point `k` steps after the switch at step s (first step of the new
 * phase) is the eval after step s - 1 + k. Points are read at the last eval at or before that step.
 */
export function measureSwitch(
  curve: readonly CurvePoint[],
  sw: SwitchInfo,
  target: number,
  fixedSteps: number,
): SwitchMeasure {
  const base = sw.atStep - 1;
  const at = (k: number): CurvePoint => {
    const c = curve.filter((p) => p.step <= base + k);
    return c[c.length - 1] ?? curve[0]!;
  };
  const inPhase = curve.filter((p) => p.step > base && p.step <= base + sw.phaseSteps);
  const hit = inPhase.find((p) => p[sw.to] >= target);
  const pt = at(fixedSteps);
  return {
    stepsToTarget: hit ? hit.step - base : null,
    newAccuracy: pt[sw.to],
    retention: pt[sw.from],
    readAt: Math.max(0, pt.step - base),
    lastObservable: inPhase.length > 0 ? inPhase[inPhase.length - 1]!.step - base : sw.phaseSteps,
  };
}

/** Aggregates runs per algorithm and switch. */
export function summarize(
  runs: readonly RunResult[],
  switches: readonly SwitchInfo[],
): Record<string, SwitchSummary[]> {
  const out: Record<string, SwitchSummary[]> = {};
  for (const algo of [...new Set(runs.map((r) => r.algo))]) {
    const rs = runs.filter((r) => r.algo === algo);
    out[algo] = switches.map((sw, i) => ({
      switch: sw,
      stepsToTarget: meanCi(rs.map((r) => r.switches[i]!.stepsToTarget ?? r.switches[i]!.lastObservable)),
      notReached: rs.filter((r) => r.switches[i]!.stepsToTarget === null).length,
      newAccuracy: meanCi(rs.map((r) => r.switches[i]!.newAccuracy)),
      retention: meanCi(rs.map((r) => r.switches[i]!.retention)),
    }));
  }
  return out;
}

/**
 * Each algorithm's difference from GTR paired by seed (PairedSummary), over the seeds both ran;
 * undefined when GTR was not run or fewer than 2 seeds pair up.
 */
export function pairedVsGtr(
  runs: readonly RunResult[],
  switches: readonly SwitchInfo[],
): Record<string, PairedSummary[]> | undefined {
  const gtr = new Map(runs.filter((r) => r.algo === 'gtr').map((r) => [r.seed, r]));
  const out: Record<string, PairedSummary[]> = {};
  for (const algo of [...new Set(runs.map((r) => r.algo))].filter((a) => a !== 'gtr')) {
    const pairs = runs.filter((r) => r.algo === algo && gtr.has(r.seed)).map((r) => [r, gtr.get(r.seed)!] as const);
    if (pairs.length < 2) continue;
    out[algo] = switches.map((sw, i) => {
      const diff = (f: (m: SwitchMeasure) => number) =>
        meanCi(pairs.map(([r, g]) => f(r.switches[i]!) - f(g.switches[i]!)));
      return {
        switch: sw,
        stepsToTarget: diff((m) => m.stepsToTarget ?? m.lastObservable),
        newAccuracy: diff((m) => m.newAccuracy),
        retention: diff((m) => m.retention),
      };
    });
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The results with summary and pairedVsGtr recomputed from the runs (bench/transition.ts
 * --rerender: a JSON written by an older version gains what this one computes).
 */
export function recomputeSummaries(r: TransitionResults): TransitionResults {
  // Each run's measures are re-read from its curve (a file written before issue #30 lacks readAt
  // and lastObservable, and recorded a missed target at the phase length).
  r = {
    ...r,
    runs: r.runs.map((x) => ({
      ...x,
      switches: r.switches.map((sw) => measureSwitch(x.curve, sw, r.config.target, r.config.fixedSteps)),
    })),
  };
  const paired = pairedVsGtr(r.runs, r.switches);
  const { pairedVsGtr: _old, ...rest } = r;
  return { ...rest, summary: summarize(r.runs, r.switches), ...(paired ? { pairedVsGtr: paired } : {}) };
}

/** Settings only GTR reads: a GTR-only variant may borrow the other algorithms' runs (withBaseline). */
const GTR_ONLY_SETTINGS = new Set<keyof TransitionConfig>(['sigma']);

/**
 * `r` (a GTR-only variant, e.g. `--algos gtr --sigma 0.1`) with the runs of every algorithm it did
 * not run taken from `base`, so the summaries compare them. Valid because the other algorithms
 * never read the settings that may differ (GTR_ONLY_SETTINGS); everything else (warm start,
 * seeds, schedule, lr, epochs, beta, ...) must be equal.
 * @throws Error naming the settings that differ, or a warm start that differs
 */
export function withBaseline(r: TransitionResults, base: TransitionResults, file: string): TransitionResults {
  const keys = new Set([...Object.keys(r.config), ...Object.keys(base.config)] as (keyof TransitionConfig)[]);
  const differ = [...keys].filter(
    (k) => k !== 'algos' && !GTR_ONLY_SETTINGS.has(k) && JSON.stringify(r.config[k]) !== JSON.stringify(base.config[k]),
  );
  if (differ.length > 0)
    throw new Error(
      `${file}: its settings differ in ${differ.join(', ')}; a baseline may differ only in algos and ${[...GTR_ONLY_SETTINGS].join(', ')}`,
    );
  if (r.warmStart.A !== base.warmStart.A || r.warmStart.B !== base.warmStart.B)
    throw new Error(`${file}: its warm start differs (mode A ${base.warmStart.A} vs ${r.warmStart.A})`);
  if (r.config.algos.some((a) => a !== 'gtr'))
    throw new Error(`a baseline completes a GTR-only run; this one ran ${r.config.algos.join(', ')}`);
  const have = new Set(r.runs.map((x) => x.algo));
  const borrowed = base.runs.filter((x) => !have.has(x.algo));
  return { ...r, runs: [...r.runs, ...borrowed], baseline: { file, algos: [...new Set(borrowed.map((x) => x.algo))] } };
}
