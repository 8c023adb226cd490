/**
 * The registered analysis of the transition experiment (docs/TRANSITION.md "Analysis plan"): per
 * run, the endpoints at each switch (AUC of the new mode's exact probability, time to 0.5 with
 * censoring, first-token AUC) and their per-run summaries (mean over switches, the trend over
 * cycles); per arm, the means with Student-t intervals, the Kaplan-Meier curve of the time to 0.5,
 * the collapses and the diagnostics; and the comparisons named in advance, paired by (warm start,
 * seed), with bootstrap intervals, sign-flip permutation p-values and Holm's correction.
 */
import { ARMS } from './arms.js';
import { stagesOf, type Design } from './design.js';
import type { RunRecord, StepRecord } from './run.js';
import {
  bootstrapMeanCi,
  holm,
  kaplanMeier,
  kmMedian,
  meanCi,
  signFlipTest,
  type KmStep,
  type MeanCi,
} from './stats.js';
import type { Mode } from './task.js';

/** A switch of the schedule: the new phase starts at step `atStep` (1-based) and lasts `steps`. */
export interface Switch {
  index: number;
  from: Mode;
  to: Mode;
  atStep: number;
  steps: number;
}

/** The switches of a schedule (phase boundaries where the mode changes). */
export function switchesOf(phases: readonly { mode: Mode; steps: number }[]): Switch[] {
  const out: Switch[] = [];
  let step = 1;
  phases.forEach((p, i) => {
    if (i > 0 && p.mode !== phases[i - 1]!.mode)
      out.push({ index: out.length, from: phases[i - 1]!.mode, to: p.mode, atStep: step, steps: p.steps });
    step += p.steps;
  });
  return out;
}

/** One run's endpoints at one switch. */
export interface SwitchEndpoints {
  /** Mean of the new mode's whole-prefix probability over the phase's steps 1..N (after each). */
  auc: number;
  /** The same with the first token's probability. */
  aucFirst: number;
  /** First k in 1..N with p_new >= 0.5; censored at N (`event` false) when the phase ends first. */
  time: number;
  event: boolean;
}

/** One run's endpoints. */
export interface RunEndpoints {
  arm: string;
  warm: number;
  seed: number;
  switches: SwitchEndpoints[];
  /** Primary: mean AUC over the switches. */
  auc: number;
  aucFirst: number;
  /** Restricted mean time to 0.5: mean over switches of min(T, N) (censored switches enter as N). */
  restrictedTime: number;
  /** Least-squares slope of the per-switch AUC against the switch index (per cycle). */
  trend: number;
  /** Exploratory (not registered): the trend over the switches into B only, and into A only. */
  trendToB: number;
  trendToA: number;
  collapsed: boolean;
  skippedSteps: number;
}

const prob = (r: StepRecord, m: Mode, first = false) =>
  first ? (m === 'A' ? r.firstA : r.firstB) : m === 'A' ? r.seqA : r.seqB;

/** Least-squares slope of ys against 1..n. */
export function slope(ys: readonly number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n + 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0,
    sxx = 0;
  ys.forEach((y, i) => {
    sxy += (i + 1 - mx) * (y - my);
    sxx += (i + 1 - mx) ** 2;
  });
  return sxy / sxx;
}

/**
 * The endpoints of one run (docs/TRANSITION.md "Endpoints per run").
 * @throws Error when the run lacks a step the schedule needs
 */
export function runEndpoints(run: RunRecord, switches: readonly Switch[], threshold = 0.5): RunEndpoints {
  const byStep = new Map(run.steps.map((s) => [s.step, s]));
  const sw = switches.map((s): SwitchEndpoints => {
    let auc = 0,
      aucFirst = 0,
      time = s.steps,
      event = false;
    for (let k = 1; k <= s.steps; k++) {
      const r = byStep.get(s.atStep - 1 + k);
      if (!r) throw new Error(`run ${run.arm} w${run.warm} s${run.seed}: no record of step ${s.atStep - 1 + k}`);
      auc += prob(r, s.to);
      aucFirst += prob(r, s.to, true);
      if (!event && prob(r, s.to) >= threshold) {
        time = k;
        event = true;
      }
    }
    return { auc: auc / s.steps, aucFirst: aucFirst / s.steps, time, event };
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    arm: run.arm,
    warm: run.warm,
    seed: run.seed,
    switches: sw,
    auc: mean(sw.map((x) => x.auc)),
    aucFirst: mean(sw.map((x) => x.aucFirst)),
    restrictedTime: mean(sw.map((x) => x.time)),
    trend: slope(sw.map((x) => x.auc)),
    trendToB: slope(sw.filter((_, j) => switches[j]!.to === 'B').map((x) => x.auc)),
    trendToA: slope(sw.filter((_, j) => switches[j]!.to === 'A').map((x) => x.auc)),
    collapsed: run.collapsed,
    skippedSteps: run.steps.reduce((a, s) => a + (s.skippedSteps ?? 0), 0),
  };
}

/** The endpoint names compared (the primary first). */
export const ENDPOINTS = ['auc', 'restrictedTime', 'trend', 'aucFirst'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** The comparisons named in advance: [arm, reference]; difference = arm - reference. */
export const COMPARISONS: [string, string][] = [
  ['gtr', 'grpo'],
  ['gtr', 'grpo-ch'],
  ['gtr', 'gtr-single'],
  ['gtr', 'gtr-s10'],
  ['gtr', 'kl'],
  ['gtr', 'pearson-m'],
  ['gtr-hi', 'grpo-hi'],
];

/** One paired comparison on one endpoint. */
export interface Comparison {
  a: string;
  b: string;
  endpoint: Endpoint;
  /** Pairs (warm start, seed) both arms ran. */
  n: number;
  /** Mean of a - b over the pairs, its sd, Cohen's d_z (mean / sd). */
  mean: number;
  sd: number;
  dz: number;
  /** 95% percentile bootstrap interval. */
  ci95: { lo: number; hi: number };
  /** Sign-flip permutation p (two-sided) and Holm's adjusted p within the endpoint's family. */
  p: number;
  pExact: boolean;
  pHolm: number;
  /** The bootstrap interval at Holm's level for this comparison: 1 - 0.05 / (m - i + 1). */
  ciHolm: { lo: number; hi: number; level: number };
  holds: boolean;
  /** Per pair: the difference (the per-seed plot). */
  pairs: { warm: number; seed: number; diff: number }[];
}

/** Per arm and endpoint: mean with Student-t 95% interval over its runs. */
export interface ArmSummary {
  arm: string;
  label: string;
  runs: number;
  endpoints: Record<Endpoint, MeanCi>;
  /** KM of the time to 0.5 over every switch of every run. */
  km: KmStep[];
  kmMedian: number | null;
  switchesCensored: number;
  switchesTotal: number;
  /** Per switch index: mean AUC (the cycle curve). */
  aucBySwitch: number[];
  /** Exploratory (not registered): the trend over cycles per direction of the switch. */
  trendToB: MeanCi;
  trendToA: MeanCi;
  collapsed: number;
  skippedSteps: number;
  /** Diagnostics averaged over every step of every run. */
  diagnostics: Record<string, number>;
}

/** The analysis, as written to transition.json. */
export interface Analysis {
  date: string;
  device: { kind: 'cpu'; cpus: number; model: string; note: string };
  design: Design;
  switches: Switch[];
  /** Pairs complete for the first stage (and per stage). */
  completePairs: number;
  completePairsByStage: number[];
  plannedPairs: number;
  arms: ArmSummary[];
  comparisons: Comparison[];
  headline: string;
  runs: RunEndpoints[];
  /** Mean curves per arm (step, pA, pB): the plot. */
  curves: Record<string, { step: number; seqA: number; seqB: number }[]>;
}

const DIAG_KEYS = ['tail02', 'tailArm', 'penaltyShare', 'clipFrac', 'updateRatioMax', 'penaltyGradAbsMean', 'invalid'];

function diagnostics(runs: readonly RunRecord[]): Record<string, number> {
  const acc: Record<string, { s: number; n: number }> = {};
  const add = (k: string, v: number | undefined) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return;
    const a = (acc[k] ??= { s: 0, n: 0 });
    a.s += v;
    a.n++;
  };
  for (const r of runs)
    for (const s of r.steps) {
      if (s.step === 0) continue;
      for (const k of DIAG_KEYS) add(k, (s as unknown as Record<string, number | undefined>)[k]);
      if (s.ratio) for (const [k, v] of Object.entries(s.ratio)) add(`ratio_${k}`, v);
    }
  return Object.fromEntries(Object.entries(acc).map(([k, { s, n }]) => [k, s / n]));
}

/**
 * Runs the registered analysis over `runs` of design `d`. Only complete (warm start, seed) pairs
 * (every arm of the design present) enter the comparisons and summaries.
 */
export function analyse(
  d: Design,
  runs: readonly RunRecord[],
  device: Analysis['device'],
  date = new Date().toISOString(),
): Analysis {
  const switches = switchesOf(d.run.phases);
  const key = (w: number, s: number) => `${w}/${s}`;
  const have = new Map<string, Set<string>>();
  for (const r of runs) {
    const k = key(r.warm, r.seed);
    if (!have.has(k)) have.set(k, new Set());
    have.get(k)!.add(r.arm);
  }
  // A pair is complete for a stage when every arm of the stage ran on it; each arm's runs count
  // only on pairs complete for its own stage (a later stage may have run on fewer pairs).
  const stages = stagesOf(d);
  const completeIn = stages.map(
    (st) => new Set([...have].filter(([, arms]) => st.every((a) => arms.has(a))).map(([k]) => k)),
  );
  const stageOfArm = new Map(stages.flatMap((st, i) => st.map((a) => [a, i] as const)));
  const complete = completeIn[0]!;
  const used = runs.filter(
    (r) => stageOfArm.has(r.arm) && completeIn[stageOfArm.get(r.arm)!]!.has(key(r.warm, r.seed)),
  );
  const eps = used.map((r) => runEndpoints(r, switches));
  const armKeys = d.arms.filter((a) => eps.some((e) => e.arm === a));
  const arms: ArmSummary[] = armKeys.map((arm) => {
    const es = eps.filter((e) => e.arm === arm);
    const all = es.flatMap((e) => e.switches);
    const km = kaplanMeier(
      all.map((s) => s.time),
      all.map((s) => s.event),
    );
    return {
      arm,
      label: ARMS[arm]?.label ?? arm,
      runs: es.length,
      endpoints: Object.fromEntries(ENDPOINTS.map((k) => [k, meanCi(es.map((e) => e[k]))])) as Record<Endpoint, MeanCi>,
      km,
      kmMedian: kmMedian(km),
      switchesCensored: all.filter((s) => !s.event).length,
      switchesTotal: all.length,
      aucBySwitch: switches.map((_, j) => es.reduce((a, e) => a + e.switches[j]!.auc, 0) / es.length),
      trendToB: meanCi(es.map((e) => e.trendToB)),
      trendToA: meanCi(es.map((e) => e.trendToA)),
      collapsed: es.filter((e) => e.collapsed).length,
      skippedSteps: es.reduce((a, e) => a + e.skippedSteps, 0),
      diagnostics: diagnostics(used.filter((r) => r.arm === arm)),
    };
  });
  const comparisons: Comparison[] = [];
  for (const endpoint of ENDPOINTS) {
    const fam: Omit<Comparison, 'pHolm' | 'ciHolm' | 'holds'>[] = [];
    for (const [a, b] of COMPARISONS) {
      const ea = new Map(eps.filter((e) => e.arm === a).map((e) => [key(e.warm, e.seed), e]));
      const pairs = eps
        .filter((e) => e.arm === b && ea.has(key(e.warm, e.seed)))
        .map((e) => ({ warm: e.warm, seed: e.seed, diff: ea.get(key(e.warm, e.seed))![endpoint] - e[endpoint] }));
      if (pairs.length < 2) continue;
      const ds = pairs.map((p) => p.diff);
      const ci = meanCi(ds);
      const t = signFlipTest(ds);
      fam.push({
        a,
        b,
        endpoint,
        n: ds.length,
        mean: ci.mean,
        sd: ci.sd,
        dz: ci.sd > 0 ? ci.mean / ci.sd : 0,
        ci95: bootstrapMeanCi(ds),
        p: t.p,
        pExact: t.exact,
        pairs,
      });
    }
    const adj = holm(fam.map((c) => c.p));
    const order = fam.map((_, i) => i).sort((x, y) => fam[x]!.p - fam[y]!.p || x - y);
    const rank = new Map(order.map((i, k) => [i, k]));
    fam.forEach((c, i) => {
      const level = 1 - 0.05 / (fam.length - rank.get(i)!);
      const ci = bootstrapMeanCi(
        c.pairs.map((p) => p.diff),
        level,
      );
      comparisons.push({ ...c, pHolm: adj[i]!, ciHolm: { ...ci }, holds: adj[i]! < 0.05 });
    });
  }
  const curves: Analysis['curves'] = {};
  for (const arm of armKeys) {
    const rs = used.filter((r) => r.arm === arm);
    const steps = rs[0]!.steps.map((s) => s.step);
    curves[arm] = steps.map((step, i) => ({
      step,
      seqA: rs.reduce((a, r) => a + r.steps[i]!.seqA, 0) / rs.length,
      seqB: rs.reduce((a, r) => a + r.steps[i]!.seqB, 0) / rs.length,
    }));
  }
  return {
    date,
    device,
    design: d,
    switches,
    completePairs: complete.size,
    completePairsByStage: completeIn.map((c) => c.size),
    plannedPairs: d.warmStarts.length * d.seeds.length,
    arms,
    comparisons,
    headline: headline(comparisons, complete.size),
    runs: eps,
    curves,
  };
}

/** The report's first sentence: the primary endpoint's comparisons, what holds and what does not. */
export function headline(cs: readonly Comparison[], pairs: number): string {
  const prim = cs.filter((c) => c.endpoint === 'auc');
  if (prim.length === 0)
    return `${pairs} complete (warm start, seed) pair${pairs === 1 ? '' : 's'}: too few to compare (at least 2 needed).`;
  const f = (c: Comparison) =>
    `${c.a} - ${c.b} ${c.mean >= 0 ? '+' : ''}${c.mean.toFixed(3)} [${c.ciHolm.lo.toFixed(3)}, ${c.ciHolm.hi.toFixed(3)}]` +
    (c.n !== pairs ? ` (${c.n} pairs)` : '');
  const held = prim.filter((c) => c.holds);
  const not = prim.filter((c) => !c.holds);
  return (
    `Primary endpoint (AUC: the exact probability of the new mode averaged over the steps after each switch; ` +
    `paired difference over ${pairs} (warm start, seed) pairs, Holm-level bootstrap interval): ` +
    (held.length ? `holds for ${held.map(f).join('; ')}` : 'no comparison holds after Holm') +
    (not.length ? `; not shown for ${not.map(f).join('; ')}.` : '.')
  );
}
