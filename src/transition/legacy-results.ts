/**
 * The 2026-11-29 transition benchmark's data model (kept to re-read its results; ./legacy.ts): the compared algorithms, a sweep's settings and its
 * results file (written by ./bench.ts, drawn by ./report.ts).
 */
import type { MeanCi } from './stats.js';
import type { Mode } from './task.js';

/** The compared algorithms: recipe algorithm.name + algorithm.loss.penalty. */
export const ALGORITHMS = {
  gtr: { name: 'gtr', penalty: 'gtr', label: 'GTR' },
  grpo: { name: 'grpo', penalty: 'none', label: 'GRPO (clip only)' },
  kl: { name: 'grpo', penalty: 'kl', label: 'KL penalty' },
  pearson: { name: 'grpo', penalty: 'pearson', label: 'Pearson' },
  spo: { name: 'grpo', penalty: 'spo', label: 'SPO' },
} as const;
export type AlgoKey = keyof typeof ALGORITHMS;

/** Every setting of a benchmark run. */
export interface TransitionConfig {
  algos: AlgoKey[];
  seeds: number[];
  /** The schedule: each phase's mode and steps. */
  phases: { mode: Mode; steps: number }[];
  /** Task: training problems, held-out problems, share of SFT rows in mode B, task / model seed. */
  trainRows: number;
  heldOut: number;
  shareB: number;
  worldSeed: number;
  /** Model width and depth (demo model on the demo tokenizer). */
  hidden: number;
  layers: number;
  /** SFT warm-up. */
  sftSteps: number;
  sftBatch: number;
  sftLr: number;
  /** RL: prompts per step, group size, learning rate, epochs and mini-batches per step. */
  prompts: number;
  group: number;
  lr: number;
  epochs: number;
  miniBatches: number;
  /** Penalty settings (GTR's sigma; beta of every penalty). */
  sigma: number;
  beta: number;
  /** Evaluation: every this many steps, samples per held-out problem. */
  evalEvery: number;
  evalN: number;
  /** Accuracy the new mode must reach after a switch. */
  target: number;
  /** Steps after a switch at which "accuracy after K steps" and retention are read. */
  fixedSteps: number;
}

/** One eval point of one run: accuracy (mean@n) of each mode. */
export interface CurvePoint {
  step: number;
  A: number;
  B: number;
}

/** A switch between phases, 1-based step at which the new phase starts. */
export interface SwitchInfo {
  index: number;
  from: Mode;
  to: Mode;
  atStep: number;
  phaseSteps: number;
}

/** The measures of one run at one switch. */
export interface SwitchMeasure {
  /** Steps after the switch until the new mode's accuracy >= target; null = not reached in the phase. */
  stepsToTarget: number | null;
  /** New mode's accuracy at the last eval at or before `fixedSteps` after the switch. */
  newAccuracy: number;
  /** Steps after the switch of that eval (13 or 14 for 15 with evals every 3 steps). */
  readAt: number;
  /** Steps after the switch of the phase's last eval: where a missed target is recorded (censored). */
  lastObservable: number;
  /** Old mode's accuracy at the same point. */
  retention: number;
}

/** One (algorithm, seed) run. */
export interface RunResult {
  algo: AlgoKey;
  seed: number;
  curve: CurvePoint[];
  switches: SwitchMeasure[];
  seconds: number;
}

/** Per algorithm and switch, the aggregated measures. */
export interface SwitchSummary {
  switch: SwitchInfo;
  /** Over seeds; a run that did not reach the target counts as its last observable step (censored there). */
  stepsToTarget: MeanCi;
  notReached: number;
  newAccuracy: MeanCi;
  retention: MeanCi;
}

/**
 * Per algorithm and switch, its difference from GTR paired by seed: every seed's runs share the
 * warm start, the prompt order and the sampling streams, so (algorithm - GTR) per seed removes
 * what the seed does to both. stepsToTarget > 0: GTR got there sooner; newAccuracy < 0: GTR's new
 * mode is further along; retention > 0: the algorithm kept more of the old mode. A missed target
 * counts as the last observable step, as in SwitchSummary.
 */
export interface PairedSummary {
  switch: SwitchInfo;
  stepsToTarget: MeanCi;
  newAccuracy: MeanCi;
  retention: MeanCi;
}

/** The JSON file. */
export interface TransitionResults {
  date: string;
  device: { kind: 'cpu'; cpus: number; model: string };
  config: TransitionConfig;
  warmStart: { A: number; B: number; sftSeconds: number; lastNll: number };
  switches: SwitchInfo[];
  runs: RunResult[];
  summary: Record<string, SwitchSummary[]>;
  /**
   * Runs of these algorithms were taken from another results file (withBaseline): a GTR-only
   * variant compared with the other algorithms' runs of the same warm start and seeds.
   */
  baseline?: { file: string; algos: string[] };
  /** Differences from GTR paired by seed (pairedVsGtr); absent without GTR or with one seed. */
  pairedVsGtr?: Record<string, PairedSummary[]>;
  seconds: number;
}
