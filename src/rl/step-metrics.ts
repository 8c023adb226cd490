/**
 * A training step's metrics row (metrics.jsonl `kind: 'train'`, TensorBoard, the progress bar), in
 * verl's names (src/run/metric-names.ts). Pure: the loop gathers the inputs, this lays them out, in a fixed
 * key order so metrics.jsonl reads the same run after run.
 */
import type { GlobalRollout } from '../parallel/rollout-columns.js';
import type { RolloutStats } from '../rollout/engine.js';
import type { GraderStepStats } from './grader-health.js';
import { M, trainerMetricName } from '../run/metric-names.js';
import { rolloutMetrics } from './rollout-phase.js';
import type { UpdateResult } from './update.js';
import { gradeMetrics } from '../grading/weighted.js';
import type { GradeResult } from '../grading/types.js';

/** What one step's row is made of. */
export interface StepMetricsInput {
  step: number;
  /** The data.schedule phase the step drew from; omitted from the row without a schedule. */
  phase?: string;
  /** The step's responses, prompts and trained advantages over all ranks (src/parallel/rollout-columns.ts). */
  rollout: GlobalRollout;
  /** Groups trained on that carry advantage signal (rewards not all equal), over all ranks. */
  keptGroups: number;
  rounds: number;
  /** Prompts skipped as too long or empty since this process started. */
  skippedPrompts: number;
  grader: GraderStepStats;
  /**
   * The graders' own metrics ({@link graderMetricMeans}: `reward/<metric>/mean`), over this
   * process's responses (rank 0's in a data-parallel run); omitted = none.
   */
  graderMetrics?: Record<string, number>;
  /** The update's result; undefined when no rank had a sample to train on. */
  update: UpdateResult | undefined;
  rolloutStats: RolloutStats[];
  generateMs: number;
  rewardMs: number;
  /** Wall time of the whole step so far, seconds. */
  stepSeconds: number;
  /** rollout.max_staleness > 0: the staleness of each trained sample, (step - 1) - its policy version. */
  staleness?: number[];
  /** rollout.placement = separate: the trainer's and the workers' waits and the weight broadcast (ms). */
  placement?: { waitRolloutMs: number; waitWeightsMs: number; weightSyncMs: number };
}

/**
 * The means of the numeric (and boolean, as 0 / 1) metrics graders return beside their score
 * (`{score, ...metrics}` of a custom grader; each part's score `<name>` and `<name>/<metric>` of a
 * weighted reward), as `reward/<metric>/mean`, each over the responses that carry it, keys sorted.
 * Strings and other values stay in the sample log only.
 */
export function graderMetricMeans(grades: readonly GradeResult[]): Record<string, number> {
  const acc = new Map<string, [number, number]>();
  for (const g of grades)
    for (const [k, v] of Object.entries(gradeMetrics(g))) {
      const x = typeof v === 'boolean' ? Number(v) : v;
      if (typeof x !== 'number' || !Number.isFinite(x)) continue;
      const a = acc.get(k) ?? [0, 0];
      a[0] += x;
      a[1] += 1;
      acc.set(k, a);
    }
  return Object.fromEntries([...acc.keys()].sort().map((k) => [`reward/${k}/mean`, acc.get(k)![0] / acc.get(k)![1]]));
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The row: reward and accuracy, advantages, grader failures, response and prompt lengths, batch
 * sizes, the sampler/trainer log-prob gap, rollout KV statistics, phase times (seconds), optimizer
 * step counts, then the trainer's own metrics averaged over the step's optimizer updates. Empty
 * lists give 0 (a step where every group was dropped still logs a row).
 */
export function stepMetricsRow(s: StepMetricsInput): Record<string, unknown> {
  const all = s.rollout.responses;
  const lengths = all.map((r) => r.tokens.length);
  const advantages = s.rollout.advantages;
  const upd = s.update;
  const row: Record<string, unknown> = {
    step: s.step,
    kind: 'train',
    ...(s.phase !== undefined ? { phase: s.phase } : {}),
    [M.scoreMean]: mean(all.map((r) => r.reward)),
    [M.scoreMax]: all.length ? Math.max(...all.map((r) => r.reward)) : 0,
    [M.scoreMin]: all.length ? Math.min(...all.map((r) => r.reward)) : 0,
    [M.accuracy]: mean(all.map((r) => (r.grade.correct ? 1 : 0))),
    [M.advantagesMax]: advantages.length ? Math.max(...advantages) : 0,
    [M.advantagesMin]: advantages.length ? Math.min(...advantages) : 0,
    [M.graderErrors]: s.grader.errors,
    [M.graderTimeouts]: s.grader.timeouts,
    ...s.graderMetrics,
    [M.responseLengthMean]: mean(lengths),
    [M.responseLengthMax]: lengths.length ? Math.max(...lengths) : 0,
    [M.responseLengthMin]: lengths.length ? Math.min(...lengths) : 0,
    [M.responseLengthClipRatio]: mean(all.map((r) => (r.finishReason === 'length' ? 1 : 0))),
    [M.promptLengthMean]: mean(s.rollout.promptLengths),
    [M.batchPrompts]: s.rollout.promptLengths.length,
    [M.batchKeptGroups]: s.keptGroups,
    [M.batchSamples]: advantages.length,
    [M.batchRolloutRounds]: s.rounds,
    [M.batchSkippedLongPrompts]: s.skippedPrompts,
    [M.rolloutLogprobDiff]: upd?.logprobGap ?? 0,
    ...rolloutMetrics(s.rolloutStats),
    ...(s.staleness
      ? {
          [M.stalenessMean]: mean(s.staleness),
          [M.stalenessMax]: s.staleness.length ? Math.max(...s.staleness) : 0,
        }
      : {}),
    [M.timeGen]: s.generateMs / 1000,
    [M.timeReward]: s.rewardMs / 1000,
    [M.timeOldLogProb]: (upd?.oldLogprobMs ?? 0) / 1000,
    [M.timeSnapshotLogProb]: (upd?.snapshotMs ?? 0) / 1000,
    [M.timeUpdateActor]: (upd?.updateMs ?? 0) / 1000,
    [M.timeStep]: s.stepSeconds,
    ...(s.placement
      ? {
          [M.timeWaitRollout]: s.placement.waitRolloutMs / 1000,
          [M.timeWaitWeights]: s.placement.waitWeightsMs / 1000,
          [M.timeWeightSync]: s.placement.weightSyncMs / 1000,
        }
      : {}),
    [M.optimizerSteps]: upd?.optimizerSteps ?? 0,
    [M.skippedSteps]: upd?.skippedSteps ?? 0,
  };
  for (const [k, v] of Object.entries(upd?.metrics ?? {})) {
    const name = trainerMetricName(k);
    if (name) row[name] = v;
  }
  return row;
}
