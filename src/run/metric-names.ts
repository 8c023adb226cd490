/**
 * The metric names of `gtr train`, in verl's style (`group/name`, snake_case; verl's
 * `actor/pg_loss`, `actor/grad_norm`, `actor/pg_clipfrac`, `response_length/mean`, `timing_s/gen`,
 * `critic/score/mean` are the model). metrics.jsonl, the TensorBoard event files and the HTML
 * report all use these names; the README's metric table documents each one (a test checks that
 * the table and the names the loop emits agree).
 *
 * Rows of metrics.jsonl also carry `step` (the RL step, 1-based) and `kind` ('train' or 'eval');
 * those two are row keys, not metrics.
 */

/** Names of the per-step (kind 'train') metrics the loop itself computes. */
export const M = {
  scoreMean: 'critic/score/mean',
  scoreMax: 'critic/score/max',
  scoreMin: 'critic/score/min',
  accuracy: 'critic/accuracy/mean',
  advantagesMax: 'critic/advantages/max',
  advantagesMin: 'critic/advantages/min',
  graderErrors: 'reward/grader_errors',
  graderTimeouts: 'reward/grader_timeouts',
  responseLengthMean: 'response_length/mean',
  responseLengthMax: 'response_length/max',
  responseLengthMin: 'response_length/min',
  responseLengthClipRatio: 'response_length/clip_ratio',
  promptLengthMean: 'prompt_length/mean',
  batchPrompts: 'batch/prompts',
  batchKeptGroups: 'batch/kept_groups',
  batchSamples: 'batch/samples',
  batchRolloutRounds: 'batch/rollout_rounds',
  batchSkippedLongPrompts: 'batch/skipped_long_prompts',
  rolloutLogprobDiff: 'training/rollout_logprob_diff_mean',
  rolloutKvCacheGib: 'rollout/kv_cache_gib',
  rolloutKvPeakGib: 'rollout/kv_peak_gib',
  rolloutKvBlocksInUseEnd: 'rollout/kv_blocks_in_use_end',
  rolloutPreemptions: 'rollout/preemptions',
  rolloutPromptPrefills: 'rollout/prompt_prefills',
  rolloutMeanRunning: 'rollout/mean_running',
  /** rollout.max_staleness > 0 only: (step - 1) - policy version of the step's samples (src/rl/rollout-source.ts). */
  stalenessMean: 'rollout/staleness/mean',
  stalenessMax: 'rollout/staleness/max',
  optimizerSteps: 'actor/optimizer_steps',
  skippedSteps: 'actor/skipped_steps',
  timeGen: 'timing_s/gen',
  timeReward: 'timing_s/reward',
  timeOldLogProb: 'timing_s/old_log_prob',
  timeSnapshotLogProb: 'timing_s/snapshot_log_prob',
  timeUpdateActor: 'timing_s/update_actor',
  timeStep: 'timing_s/step',
  /**
   * rollout.placement = separate only (src/rl/separate-rollout.ts): the trainer's wait for the step's
   * batch, the rollout workers' wait for the weights that batch was generated from, and the
   * trainer's broadcast of the weights published after the step (c10d).
   */
  timeWaitRollout: 'timing_s/wait_rollout',
  timeWaitWeights: 'timing_s/wait_weights',
  timeWeightSync: 'timing_s/weight_sync',
  /** Eval rows: the evaluation's wall time. */
  timeTesting: 'timing_s/testing',
  /** Eval rows of a failed evaluation: 1, and the failures so far in the run. */
  valFailed: 'val/failed',
  valFailuresTotal: 'val/failures_total',
} as const;

/**
 * The trainer's per-optimizer-step metrics (native NativeStepResult keys, camelCase) -> metric
 * names; the loop logs each one's mean over the RL step's optimizer steps. `null`: not logged
 * (`step` is a running counter whose mean says nothing; `skipped` / `reason` are not numbers and
 * are counted by `actor/skipped_steps`).
 */
export const TRAINER_METRICS: Readonly<Record<string, string | null>> = {
  loss: 'actor/loss',
  pgLoss: 'actor/pg_loss',
  penaltyLoss: 'actor/penalty_loss',
  klLoss: 'actor/kl_loss',
  entropyBonus: 'actor/entropy_bonus',
  ratioMean: 'actor/ratio/mean',
  ratioMin: 'actor/ratio/min',
  ratioMax: 'actor/ratio/max',
  ratioP5: 'actor/ratio/p5',
  ratioP50: 'actor/ratio/p50',
  ratioP95: 'actor/ratio/p95',
  clipFrac: 'actor/pg_clipfrac',
  clipFracLow: 'actor/pg_clipfrac_low',
  clipFracHigh: 'actor/pg_clipfrac_high',
  dualClipFrac: 'actor/pg_clipfrac_dual',
  penaltyMean: 'actor/penalty/mean',
  penaltyGradAbsMean: 'actor/penalty/grad_abs_mean',
  entropy: 'actor/entropy',
  approxKl: 'actor/ppo_kl',
  refKl: 'actor/ref_kl',
  responseTokens: 'actor/response_tokens',
  sequences: 'actor/sequences',
  microBatches: 'actor/micro_batches',
  gradNorm: 'actor/grad_norm',
  clipCoef: 'actor/grad_clip_coef',
  lr: 'actor/lr',
  // algorithm.loss.rollout_is_threshold set only (verl's rollout_corr/ group): the truncated weight's
  // token mean, the untruncated weight's max, and the fraction of tokens truncated.
  rolloutIsMean: 'rollout_corr/rollout_is_mean',
  rolloutIsMax: 'rollout_corr/rollout_is_max',
  rolloutIsClipFrac: 'rollout_corr/rollout_is_clip_frac',
  step: null,
  skipped: null,
  reason: null,
};

/** camelCase / other -> snake_case, for trainer keys the table does not know yet. */
function snake(k: string): string {
  return k
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9_/@.]+/g, '_')
    .toLowerCase();
}

/**
 * The metric name of a trainer metric key: the table's name, or `actor/<snake_case key>` for a key
 * it does not list (a newer native build); null for keys that are not logged.
 */
export function trainerMetricName(key: string): string | null {
  return key in TRAINER_METRICS ? TRAINER_METRICS[key]! : `actor/${snake(key)}`;
}

/** Eval-row name of a benchmark metric (`pass@k`, `mean@k`, `maj@k`, ...): `val/<benchmark>/<metric>`. */
export function evalMetricName(benchmark: string, metric: string): string {
  return `val/${benchmark}/${metric}`;
}

/** Eval-row name of the macro average over benchmarks of a metric: `val/mean/<metric>`. */
export function evalMeanName(metric: string): string {
  return `val/mean/${metric}`;
}

/** Eval-row name of a benchmark's mean response length in tokens. */
export function evalLengthName(benchmark: string): string {
  return `val/${benchmark}/response_length/mean`;
}
