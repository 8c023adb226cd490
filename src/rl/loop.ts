/**
 * `train()`, the RL loop behind `gtr train`, as a short sequence of named steps.
 * Recipe -> rollout -> reward -> advantage -> loss -> update -> checkpoint; the steps:
 *
 * - open the run: ./run-context.ts (run directory locked, cleaned and resumed by src/run/resume.ts on
 *   rank 0; tokenizer, phased data, graders, policy and engines into one RunContext);
 * - per step: collect groups (./collect.ts: the next prompts of a seeded, resumable order, n samples
 *   per prompt, grading and overlong shaping, group advantages, optional DAPO dynamic sampling),
 *   through the rollout source (./rollout-source.ts: with rollout.max_staleness = s > 0 the batch of
 *   step k is generated s steps ahead, from the weights after step k - 1 - s; 0 = on-policy);
 *   update (./update.ts: old log-probs recomputed by the trainer, per-epoch GTR snapshots, shuffled
 *   mini-batches, optimizer steps); log (the metrics row of ./step-metrics.ts to JSONL and
 *   TensorBoard, a few decoded samples, the run's HTML report); checkpoint (atomic); then evaluate
 *   (./periodic-eval.ts: after the checkpoint, so an evaluation that fails is logged and counted,
 *   and training goes on).
 *
 * SIGINT (the `signal`) cancels a running generation or evaluation and saves the last completed
 * step, or finishes an update already under way and saves it.
 *
 * Vocabulary: "train" names this run of the RL loop (`train()`, `gtr train`, TrainOptions,
 * TrainPhase, the recipe's `train` section, `kind: 'train'` metrics rows); the engine that
 * computes log-probs and gradients and steps the optimizer is "the trainer" (TrainerEngine here,
 * the native Trainer in src/train/), and what it trains on in a step are "the update's samples"
 * (./collect.ts, ./update.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { saveCheckpointAtomic } from '../checkpoint/save.js';
import { DistContext } from '../parallel/context.js';
import { globalRollout } from '../parallel/rollout-columns.js';
import type { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import type { CollectedGroups } from './collect.js';
import {
  inProcessRolloutSource,
  readRolloutQueue,
  ROLLOUT_QUEUE_FILE,
  serializeRolloutQueue,
  staleness,
  type RolloutBatch,
  type RolloutSource,
} from './rollout-source.js';
import type { RolloutEngine } from '../rollout/engine.js';
import type { TrainerEngine } from './engines.js';
import { lossConfig } from '../train/loss-config.js';
import { evaluateStep } from './periodic-eval.js';
import { loadPhaseBenchmarks } from './phased-data.js';
import { preflightTraining } from '../run/preflight.js';
import { LOOP_STATE_FILE, shardStateFile, TRAINER_STATE_DIR, type RunDir } from '../run/dir.js';
import {
  closeRunContext,
  openRunContext,
  openRunOnAllRanks,
  recordMetrics,
  type LoopState,
  type RunContext,
  type TrainOptions,
} from './run-context.js';
import { graderMetricMeans, stepMetricsRow } from './step-metrics.js';
import { gradeMetrics } from '../grading/weighted.js';
import type { GradeResult } from '../grading/types.js';
import { updatePolicy, type UpdateResult } from './update.js';
import { separateRolloutSource, type TimedRolloutBatch } from './separate-rollout.js';

export type { EngineFactory } from './engines.js';
export type { TrainOptions, TrainPhase } from './run-context.js';

export interface TrainSummary {
  runDir: string;
  lastStep: number;
  interrupted: boolean;
  /** Periodic evaluations that failed (each logged; training went on). */
  evalErrors: number;
}

/**
 * Runs (or resumes) training as the recipe says: opens the run, builds the engines, then per step
 * collects groups, updates the policy, logs the metrics, saves a checkpoint and evaluates (each on
 * its steps), and stops early on SIGINT (`opts.signal`) or on the skipped-updates rule.
 * Throws on bad input, naming what is wrong; throws after saving the last step when
 * train.max_consecutive_skipped_steps steps in a row skipped every update.
 */
export async function train(recipe: Recipe, opts: TrainOptions): Promise<TrainSummary> {
  const log = opts.log ?? ((s: string) => console.log(s));
  await preflightTraining(recipe);
  // Every benchmark is resolved now, so a missing file or failed download stops the run before step 1.
  const benchmarks =
    recipe.eval.every_steps > 0 ? await loadPhaseBenchmarks(recipe, opts.dataDir ?? recipe.data.data_dir) : [];
  const dist = opts.dist ?? DistContext.single();
  const opened = await openRunOnAllRanks(recipe, opts, log, dist);
  try {
    const ctx = await openRunContext(recipe, opts, log, dist, opened, benchmarks, lossConfig(recipe.algorithm.loss));
    opened.recordRecipeChanges?.(); // the checkpoint loaded: the resume stands
    const { progress } = ctx;
    let source: RolloutSource | undefined;
    try {
      if (recipe.rollout.max_staleness > 0 && dist.distributed)
        throw new Error(
          `rollout.max_staleness = ${recipe.rollout.max_staleness} is not supported with --nproc-per-node yet (each rank would hold its own queue of batches generated ahead); use 0 for data-parallel runs`,
        );
      // A separate worker gets the trainer's full weights after every step; under `full` the trainer
      // holds only its shards outside rollout phases.
      if (recipe.rollout.placement === 'separate' && recipe.train.sharding === 'full')
        throw new Error(
          'rollout.placement: separate is not supported with train.sharding: full yet (the workers are sent the full weights, which a full-sharded trainer holds only while gathered); use train.sharding: none or optimizer',
        );
      const resumeDir = opened.resumeFrom?.dir;
      const restored = resumeDir ? readRolloutQueue(resumeDir, ctx.startStep) : [];
      source = await openRolloutSource(ctx, resumeDir, restored);
      await evaluateUnfinished(ctx);
      for (let step = ctx.startStep + 1; step <= recipe.train.steps; step++) {
        if (await dist.any(!!opts.signal?.aborted, `interrupt check before step ${step}`)) {
          progress.interrupted = true;
          break;
        }
        const t0 = performance.now();
        // train.sharding full: the in-process source generates with the gathered full weights.
        const collected = await withFullWeights(ctx, () => source!.next(step));
        if (!collected) {
          progress.interrupted = true;
          break;
        }
        const update = await updateStep(ctx, collected, step);
        await source.publishWeights(step);
        await logStep(ctx, step, collected, update, t0);
        progress.lastDone = step;
        // The step is saved before the evaluation, so an evaluation that fails or is interrupted loses no training.
        const stopping = await dist.any(!!opts.signal?.aborted, `interrupt check after step ${step}`);
        if (checkpointDue(ctx, step, stopping)) {
          opts.onPhase?.('checkpoint', step);
          await saveCheckpoint(ctx, step, source);
        }
        if (evaluationDue(ctx, step, stopping)) {
          opts.onPhase?.('eval', step);
          await withFullWeights(ctx, () => evaluateStep(ctx, step));
        }
        ctx.observers?.refresh();
        if (stopping || (!dist.distributed && opts.signal?.aborted)) {
          progress.interrupted = true;
          break;
        }
        progress.stopError = skippedUpdatesStop(ctx, step);
        if (progress.stopError) break;
      }
      await saveLastStepIfStopped(ctx, source);
    } finally {
      await source?.close();
      await closeRunContext(ctx);
    }
    if (!existsSync(join(ctx.run.dir, 'resolved.yaml'))) throw new Error('internal: resolved recipe missing');
    if (progress.stopError) throw progress.stopError;
    return {
      runDir: ctx.run.dir,
      lastStep: progress.lastDone,
      interrupted: progress.interrupted,
      evalErrors: progress.evalErrors,
    };
  } finally {
    opened.release();
  }
}

/**
 * The policy update of a step (./update.ts). Every rank joins when any rank has samples (the
 * optimizer steps are collective); undefined when no rank has any (every group dropped). Counts the
 * steps in a row whose every optimizer update was skipped, and warns about any skipped one.
 */
async function updateStep(
  ctx: RunContext,
  collected: CollectedGroups,
  step: number,
): Promise<UpdateResult | undefined> {
  const { recipe, dist, progress } = ctx;
  const samples = collected.samples;
  const anySamples = dist.distributed ? (await dist.sum([samples.length], 'sample count'))[0] > 0 : samples.length > 0;
  if (!anySamples) return undefined;
  const upd = await updatePolicy(
    ctx.trainer,
    samples,
    {
      epochs: recipe.train.epochs_per_step,
      miniBatchesPerEpoch: recipe.train.mini_batches_per_epoch,
      loss: ctx.loss,
      anchor: recipe.algorithm.loss.anchor,
      useReference: !!ctx.reference,
      seed: recipe.train.seed,
    },
    step,
    (p) => ctx.opts.onPhase?.(p, step),
    dist,
  );
  if (upd.skippedSteps > 0) {
    ctx.log(
      `warning: step ${step}: ${upd.skippedSteps} of ${upd.optimizerSteps} optimizer updates skipped (non-finite loss or gradient); the weights were left unchanged by them`,
    );
  }
  if (upd.optimizerSteps > 0)
    progress.consecutiveSkipped = upd.skippedSteps === upd.optimizerSteps ? progress.consecutiveSkipped + 1 : 0;
  return upd;
}

/**
 * Logs a finished step: gathers the rollout over the ranks (the row's means are the single-process
 * ones), records the metrics row (./step-metrics.ts), appends the first run.log_samples_per_step
 * decoded samples (rank 0) and hands the row to `opts.onStep` (the progress bar).
 */
async function logStep(
  ctx: RunContext,
  step: number,
  c: RolloutBatch,
  update: UpdateResult | undefined,
  t0: number,
): Promise<void> {
  const { dist, phased } = ctx;
  const rollout = await globalRollout(
    dist,
    c.groups,
    c.groupKeys,
    c.samples.map((x) => x.advantage),
  );
  const row = stepMetricsRow({
    step,
    phase: phased.scheduled ? phased.at(step).phase.spec.name : undefined,
    rollout,
    keptGroups: c.signalGroups,
    rounds: c.rounds,
    skippedPrompts: ctx.progress.skippedPrompts,
    grader: c.grader,
    graderMetrics: graderMetricMeans(c.groups.flatMap((g) => g.responses.map((r) => r.grade))),
    update,
    rolloutStats: c.rolloutStats,
    generateMs: c.generateMs,
    rewardMs: c.rewardMs,
    stepSeconds: (performance.now() - t0) / 1000,
    placement: (c as TimedRolloutBatch).placement,
    staleness:
      ctx.recipe.rollout.max_staleness > 0
        ? c.samples.map((x) => staleness(step, x.policyVersion ?? c.policyVersion))
        : undefined,
  });
  recordMetrics(ctx, row);
  if (dist.isMain)
    ctx.run.appendSamples(
      c.groups.slice(0, ctx.recipe.run.log_samples_per_step).map((g) => ({
        step,
        id: g.prompt.row.id,
        prompt: g.prompt.text,
        gold: g.prompt.row.answer,
        response: g.responses[0].text,
        reward: g.responses[0].reward,
        correct: g.responses[0].grade.correct,
        extracted: g.responses[0].grade.extracted,
        policy_version: g.policyVersion ?? c.policyVersion,
        ...sampleMetrics(g.responses[0].grade),
      })),
    );
  ctx.opts.onStep?.(row);
}

/** A grader's own metrics and failure for the sample log (nothing when it returned none). */
function sampleMetrics(grade: GradeResult): Record<string, unknown> {
  const metrics = gradeMetrics(grade);
  return {
    ...(Object.keys(metrics).length ? { metrics } : {}),
    ...(grade.error !== undefined ? { grader_error: grade.error } : {}),
  };
}

/**
 * The run's rollout source: rollout workers in processes of their own (rollout.placement =
 * separate, ./separate-rollout.ts), else the in-process pipeline (./rollout-source.ts).
 * @throws Error for separate workers under a data-parallel launch (not supported yet)
 */
async function openRolloutSource(
  ctx: RunContext,
  resumeDir: string | undefined,
  restored: RolloutBatch[],
): Promise<RolloutSource> {
  const { recipe, dist } = ctx;
  if (recipe.rollout.placement !== 'separate') return inProcessRolloutSource(ctx, restored);
  if (dist.distributed)
    throw new Error(
      `rollout.placement = separate is not supported with --nproc-per-node yet (one trainer process drives the rollout workers); use rollout.placement: colocated for data-parallel runs`,
    );
  return separateRolloutSource(ctx, resumeDir ? join(resumeDir, 'policy') : recipe.model.path, restored);
}

/** A checkpoint every checkpoint.every_steps, at the last step, and when the run is stopping. */
function checkpointDue(ctx: RunContext, step: number, stopping: boolean): boolean {
  const every = ctx.recipe.checkpoint.every_steps;
  return (every > 0 && step % every === 0) || step === ctx.recipe.train.steps || stopping;
}

/**
 * An evaluation every eval.every_steps and at the last step, unless the run is stopping. Read after
 * the checkpoint: a single-process SIGINT during the save skips the evaluation. Data-parallel ranks
 * go by the agreed `stopping` so they all take the same barriers.
 */
function evaluationDue(ctx: RunContext, step: number, stopping: boolean): boolean {
  const { recipe, dist, opts } = ctx;
  const every = recipe.eval.every_steps;
  const notStopping = dist.distributed ? !stopping : !opts.signal?.aborted;
  return notStopping && every > 0 && (step % every === 0 || step === recipe.train.steps);
}

/**
 * On resume: the evaluation due at the checkpoint's step runs now when it left no row in
 * metrics.jsonl (it was killed, or interrupted, after the step's checkpoint was saved), so every
 * evaluation point has its result. Rank 0 decides; every rank joins.
 */
async function evaluateUnfinished(ctx: RunContext): Promise<void> {
  const { dist, startStep } = ctx;
  if (startStep === 0 || !evaluationDue(ctx, startStep, false)) return;
  const missing = await dist.broadcastJson(dist.isMain && !ctx.run.hasEvalRow(startStep), 'unfinished evaluation');
  if (!missing) return;
  ctx.log(`the evaluation at step ${startStep} did not finish before the run stopped; running it now`);
  ctx.opts.onPhase?.('eval', startStep);
  await withFullWeights(ctx, () => evaluateStep(ctx, startStep));
}

/**
 * train.sharding: full (verl's hybrid engine, resharding FSDP to the rollout engine): every rank
 * all-gathers the full weights from the shards for `fn` (a rollout phase, an evaluation, a
 * checkpoint's weights) and frees them after, unless train.gathered_weights_budget_gib keeps them.
 * Other levels: `fn` alone.
 */
async function withFullWeights<T>(ctx: RunContext, fn: () => Promise<T>): Promise<T> {
  if (!ctx.trainer.gatherWeights) return fn();
  await ctx.trainer.gatherWeights();
  const out = await fn();
  await ctx.trainer.releaseWeights!();
  return out;
}

/**
 * train.max_consecutive_skipped_steps: the error that stops a run whose policy no longer learns
 * (every optimizer update skipped that many steps in a row); undefined while it may go on.
 */
function skippedUpdatesStop(ctx: RunContext, step: number): Error | undefined {
  const maxSkipped = ctx.recipe.train.max_consecutive_skipped_steps;
  const n = ctx.progress.consecutiveSkipped;
  if (maxSkipped <= 0 || n < maxSkipped) return undefined;
  return new Error(
    `train.max_consecutive_skipped_steps = ${maxSkipped}: ${n} steps in a row, the last step ${step}, skipped every optimizer update (non-finite loss or gradient), so the policy no longer learns; stopped after saving step ${step}. Lower train.lr or set train.max_grad_norm, then resume with --allow-recipe-change`,
  );
}

/**
 * After an interrupt or the skipped-updates stop: saves the last completed step unless it is already
 * the latest checkpoint (rank 0 decides, every rank joins the save).
 */
async function saveLastStepIfStopped(ctx: RunContext, source: RolloutSource | undefined): Promise<void> {
  const { dist, run, progress } = ctx;
  const last = progress.lastDone;
  if (!(progress.interrupted || progress.stopError) || last === 0) return;
  const unsaved = await dist.broadcastJson(
    dist.isMain && run.latest() !== run.checkpointDir(last),
    'final checkpoint needed',
  );
  if (unsaved) await saveCheckpoint(ctx, last, source);
}

/**
 * Saves `step` as a checkpoint: rank 0 writes (atomically: a temporary directory renamed) while
 * every rank waits. Data-parallel, each rank first checks its weights are bitwise rank 0's (DDP's
 * guarantee, checked: what rank 0 saves is every rank's model).
 */
async function saveCheckpoint(ctx: RunContext, step: number, source: RolloutSource | undefined): Promise<void> {
  await withFullWeights(ctx, () => saveCheckpointGathered(ctx, step, source));
}

async function saveCheckpointGathered(ctx: RunContext, step: number, source: RolloutSource | undefined): Promise<void> {
  const { dist } = ctx;
  // max_staleness > 0: the batches generated ahead (steps step + 1 .. step + s) are recorded, so a resume trains on them.
  const queue = source ? await source.pending() : [];
  if (dist.distributed) {
    await ctx.trainer.verifyReplicas!();
    ctx.log(`rank ${dist.rank}: weights at step ${step} bitwise equal to rank 0's on all ${dist.worldSize} ranks`);
  }
  // Sharded state: every rank writes its shard (atomically) beside the checkpoints; rank 0 then
  // moves them into the checkpoint's temporary directory before the one rename that commits it.
  if (ctx.trainer.saveShard) await ctx.trainer.saveShard(shardStagingDir(ctx, step));
  await dist.barrier(`before checkpoint step ${step}`);
  if (dist.isMain) await writeCheckpoint(ctx, step, queue);
  await dist.barrier(`checkpoint step ${step} written by rank 0`);
}

/** Where the ranks' shard files of step `step` wait until rank 0 commits the checkpoint. */
const shardStagingDir = (ctx: RunContext, step: number) => `${ctx.run.checkpointDir(step)}.shards`;

/**
 * A checkpoint write that failed for want of space (ENOSPC, EDQUOT) explained: how much one
 * checkpoint takes, and that checkpoint.keep_last = K needs room for K + 1 of them (the new one is
 * written before the oldest is pruned); other errors are returned as they are.
 */
export function explainCheckpointWriteError(e: unknown, run: RunDir, step: number, keepLast: number): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT' && !/ENOSPC|EDQUOT|No space left|quota/i.test(err.message)) return err;
  const last = run.checkpoints().at(-1);
  const size = last
    ? ` (the last one, ${relative(run.dir, last.dir)}, takes ${(dirBytes(last.dir) / 2 ** 30).toFixed(2)} GiB)`
    : '';
  const aside = run.setAside().length;
  return new Error(
    `checkpoint step ${step}: no space left in ${run.dir}: ${err.message}. checkpoint.keep_last = ${keepLast} keeps ${keepLast} checkpoints, and the next one is written before the oldest is deleted, so the disk needs room for ${keepLast + 1}${size}` +
      (aside > 0
        ? `; ${aside} checkpoint(s) set aside by a resume (checkpoints/step-*.unused-*) also take room until the run saves their step again`
        : '') +
      `. Free space (or lower checkpoint.keep_last), then --resume: the run continues from its last complete checkpoint`,
  );
}

/** Bytes of the files under `dir`. */
function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

/**
 * Rank 0's write: policy, trainer state, loop state and (max_staleness > 0) the batches generated
 * ahead; then latest is moved and old ones pruned.
 */
async function writeCheckpoint(ctx: RunContext, step: number, queue: RolloutBatch[]): Promise<void> {
  try {
    await writeCheckpointFiles(ctx, step, queue);
  } catch (e) {
    throw explainCheckpointWriteError(e, ctx.run, step, ctx.recipe.checkpoint.keep_last);
  }
}

async function writeCheckpointFiles(ctx: RunContext, step: number, queue: RolloutBatch[]): Promise<void> {
  const { recipe, run, phased } = ctx;
  const final = await saveCheckpointAtomic(run.checkpointDir(step), async (tmp) => {
    await ctx.policy.save(join(tmp, 'policy'), {
      tokenizerFrom: recipe.model.tokenizer ?? recipe.model.path,
      baseModel: recipe.model.path,
    });
    await ctx.trainer.saveState(join(tmp, TRAINER_STATE_DIR));
    if (queue.length > 0) await writeFile(join(tmp, ROLLOUT_QUEUE_FILE), serializeRolloutQueue(queue));
    if (ctx.trainer.saveShard) {
      // Every rank's shard file (same filesystem: the run directory), renamed into the checkpoint.
      const staged = shardStagingDir(ctx, step);
      const W = ctx.dist.worldSize;
      for (let r = 0; r < W; r++) {
        const f = shardStateFile(r, W);
        await rename(join(staged, f), join(tmp, TRAINER_STATE_DIR, f));
      }
      await rm(staged, { recursive: true, force: true });
    }
    await writeFile(
      join(tmp, LOOP_STATE_FILE),
      JSON.stringify(
        (phased.scheduled
          ? { step, phases: phased.state() }
          : { step, sampler: phased.phases[0]!.sampler.state() }) satisfies LoopState,
      ),
    );
  });
  run.markLatest(step);
  for (const p of run.prune(recipe.checkpoint.keep_last))
    ctx.log(`deleted ${relative(run.dir, p)}, set aside by a resume and superseded by step ${step}`);
  ctx.log(`checkpoint ${final}`);
}
