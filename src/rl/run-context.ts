/**
 * The state the RL loop's steps share (./loop.ts): what is fixed once the run is open (the run
 * directory, tokenizer, phased data, policy and engines) and the few counters the metrics rows and
 * stop rules read. One explicit object passed to every step, in place of closures over a dozen
 * locals, so each step says in its signature what it reads and writes.
 *
 * Life cycle: {@link openRunOnAllRanks} (rank 0 locks, cleans and resumes the run directory),
 * {@link openRunContext} (graders, policies, engines), the steps, {@link closeRunContext}.
 */
import { join } from 'node:path';
import type { PromptSamplerState } from '../data/sampler.js';
import type { DistContext } from '../parallel/context.js';
import type { BenchmarkInput } from '../eval/evaluate.js';
import { native } from '../native/binding.js';
import { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import { resolveKvBudget, TRAINER_STATE_BYTES_PER_PARAM } from '../rollout/kv-budget.js';
import { Tokenizer } from '../tokenizer/index.js';
import type { RolloutEngine } from '../rollout/engine.js';
import type { EngineFactory, LossConfig, TrainerEngine } from './engines.js';
import { checkGrader } from './grader-health.js';
import { PhasedData, type PhasedState } from './phased-data.js';
import { openRun, type OpenedRun } from '../run/resume.js';
import { RunDir, TRAINER_STATE_DIR } from '../run/dir.js';
import { RunObservers } from '../run/observers.js';
import type { PromptRendering } from '../rollout/prompt.js';

/** A checkpoint's loop-state.json: the step it saved and where the prompt order stands. */
export interface LoopState {
  step: number;
  /** The prompt order of a run without data.schedule. */
  sampler?: PromptSamplerState;
  /** Each phase's prompt order (data.schedule). */
  phases?: PhasedState;
}

/** What changes as the steps run; read by the metrics rows, the stop rules and the summary. */
export interface RunProgress {
  /** Prompts drawn so far that were empty or longer than data.max_prompt_tokens (metric, cumulative). */
  skippedPrompts: number;
  /** Periodic evaluations that failed (each logged; training went on). */
  evalErrors: number;
  /** Steps in a row whose every optimizer update was skipped (train.max_consecutive_skipped_steps). */
  consecutiveSkipped: number;
  /** The last step completed (logged) in this run; the resumed step before the first. */
  lastDone: number;
  interrupted: boolean;
  /** Set when the skipped-updates rule stopped the run (thrown after the last step is saved). */
  stopError?: Error;
}

/** Everything a step reads, and the progress it updates. Built by {@link openRunContext}. */
export interface RunContext {
  readonly recipe: Recipe;
  readonly opts: TrainOptions;
  readonly log: (line: string) => void;
  readonly dist: DistContext;
  readonly run: RunDir;
  readonly tokenizer: Tokenizer;
  readonly phased: PhasedData;
  readonly policy: Policy;
  /** The KL reference (only when algorithm.loss.kl_ref.coef > 0). */
  readonly reference: Policy | undefined;
  readonly rollout: RolloutEngine;
  readonly trainer: TrainerEngine & { dispose?(): void };
  readonly loss: LossConfig;
  /** The rollout KV pool budget, GiB: fixed before the trainer's state exists (same pool every step). */
  readonly kvCacheGib: number;
  /** The tokenizer's EOS ids and rollout.stop_token_ids, deduplicated. */
  readonly stopTokenIds: number[];
  /** TensorBoard and the HTML report: rank 0 only. */
  readonly observers: RunObservers | undefined;
  /** The step this process starts after (0 on a fresh run). */
  readonly startStep: number;
  readonly progress: RunProgress;
}

/**
 * Opens the run directory on every rank: rank 0 alone opens it (locks, cleans, resumes; src/run/resume.ts)
 * and tells the others what it found, so all ranks resume from the same checkpoint.
 * @throws what openRun throws (on rank 0), or on other ranks an Error naming rank 0's failure
 */
export async function openRunOnAllRanks(
  recipe: Recipe,
  opts: TrainOptions,
  log: (line: string) => void,
  dist: DistContext,
): Promise<OpenedRun> {
  let opened: OpenedRun | undefined;
  let openError: Error | undefined;
  if (dist.isMain) {
    try {
      opened = openRun(recipe, { resume: opts.resume, allowRecipeChange: opts.allowRecipeChange, log });
    } catch (e) {
      if (!dist.distributed) throw e;
      openError = e as Error;
    }
  }
  if (dist.distributed) {
    type Shared = { error: string | null; dir: string; resumeFrom: OpenedRun['resumeFrom'] | null };
    const shared = await dist.broadcastJson<Shared>(
      { error: openError?.message ?? null, dir: opened?.run.dir ?? '', resumeFrom: opened?.resumeFrom ?? null },
      'run directory from rank 0',
    );
    if (shared.error !== null) {
      opened?.release();
      throw openError ?? new Error(`rank ${dist.rank}: rank 0 could not open the run directory: ${shared.error}`);
    }
    if (!dist.isMain)
      opened = { run: new RunDir(shared.dir), release: () => {}, resumeFrom: shared.resumeFrom ?? undefined };
  }
  return opened!;
}

function resolveDevice(d: string): string {
  if (d !== 'auto') return d;
  return native().versions().cudaAvailable ? 'cuda' : 'cpu';
}

/**
 * Builds what the steps need in an opened run: the tokenizer, the phased data (prompt order restored
 * on resume), every phase's grader tried once, the policy (the checkpoint's on resume), the KL
 * reference, the KV budget, the engines (trainer state restored on resume) and, data-parallel, the
 * trainer's process group. On a failure before the engines exist, what was loaded is released (the
 * grader workers would keep the process alive) and the error rethrown.
 */
export async function openRunContext(
  recipe: Recipe,
  opts: TrainOptions,
  log: (line: string) => void,
  dist: DistContext,
  opened: OpenedRun,
  benchmarks: BenchmarkInput[][],
  loss: LossConfig,
): Promise<RunContext> {
  const run = opened.run;
  const resumeFrom = opened.resumeFrom?.dir;
  const resolved = resolveDevice(recipe.model.device);
  // One GPU per rank: rank LOCAL_RANK of this machine uses cuda:LOCAL_RANK (torchrun's convention).
  const device = dist.distributed && resolved === 'cuda' ? `cuda:${dist.localRank}` : resolved;
  const dtype = recipe.model.dtype === 'float32' ? 'float32' : 'bfloat16';
  const modelDir = resumeFrom ? join(resumeFrom, 'policy') : recipe.model.path;
  const tokenizer = await Tokenizer.fromDir(recipe.model.tokenizer ?? recipe.model.path);
  const state: LoopState | undefined = resumeFrom ? (opened.resumeFrom!.state as LoopState) : undefined;
  const phased = await PhasedData.open(recipe, {
    dataDir: opts.dataDir ?? recipe.data.data_dir,
    benchmarks,
    state: state?.phases,
    singlePhaseSampler: state?.sampler,
  });
  let policy: Policy | undefined, reference: Policy | undefined;
  let engines: ReturnType<EngineFactory>;
  let kv: ReturnType<typeof resolveKvBudget>;
  try {
    // Every phase's grader is loaded and called once before step 1.
    for (const phase of phased.phases) await checkGrader(phase.grader, phase.data.rows[0]!);
    policy = await Policy.load(modelDir, { device, dtype });
    // LoRA: fresh adapters at the start; a resumed checkpoint brings its own (policy/adapter/).
    if (recipe.model.lora && !policy.lora) policy.enableLora(recipe.model.lora, recipe.train.seed);
    reference = loss.klCoef > 0 ? await Policy.load(recipe.model.path, { device, dtype, adapter: false }) : undefined;
    // The KV budget is fixed before the trainer's state exists, counting that state in (same pool every step).
    kv = resolveKvBudget(recipe.rollout.kv_cache_gib, device, TRAINER_STATE_BYTES_PER_PARAM * policy.numTrainable);
    log(kv.describe);
    engines = opts.engines(policy, reference, recipe);
    if (recipe.train.sharding === 'full') {
      // Counted now: once the trainer has the process group, the policy's tensors hold shards only.
      const gib = (policy.numTrainable * (dtype === 'float32' ? 4 : 2)) / 2 ** 30;
      const budget = recipe.train.gathered_weights_budget_gib;
      log(
        `train.sharding: full: the gathered full weights (${gib.toFixed(3)} GiB per rank) are ${
          gib <= budget ? 'kept between rollout phases' : 'freed after each rollout phase'
        } (train.gathered_weights_budget_gib = ${budget})`,
      );
    }
    // A sharded state is loaded after setProcessGroup below: each rank's shard depends on the group.
    if (resumeFrom && !engines.trainer.saveShard) await engines.trainer.loadState(join(resumeFrom, TRAINER_STATE_DIR));
  } catch (e) {
    await phased.destroy();
    reference?.dispose();
    policy?.dispose();
    throw e;
  }
  const { rollout, trainer } = engines;
  // After the resume load, so a mismatch cannot survive: every rank starts from rank 0's weights.
  if (dist.distributed) {
    if (!trainer.setProcessGroup) throw new Error('internal: this trainer engine has no data-parallel support');
    await trainer.setProcessGroup(dist.group!);
  }
  if (resumeFrom && trainer.saveShard) {
    try {
      await trainer.loadState(join(resumeFrom, TRAINER_STATE_DIR));
    } catch (e) {
      await phased.destroy();
      trainer.dispose?.();
      reference?.dispose();
      policy.dispose();
      throw e;
    }
  }
  const startStep = state?.step ?? 0;
  return {
    recipe,
    opts,
    log,
    dist,
    run,
    tokenizer,
    phased,
    policy,
    reference,
    rollout,
    trainer,
    loss,
    kvCacheGib: kv.gib,
    stopTokenIds: [...new Set([...tokenizer.eosTokenIds, ...recipe.rollout.stop_token_ids])],
    observers: dist.isMain
      ? new RunObservers(run.dir, { tensorboard: recipe.run.tensorboard, report: recipe.run.report, log })
      : undefined,
    startStep,
    progress: { skippedPrompts: 0, evalErrors: 0, consecutiveSkipped: 0, lastDone: startStep, interrupted: false },
  };
}

/** Stops the grader workers and frees the engines and policies (every rank, also after an error). */
export async function closeRunContext(ctx: RunContext): Promise<void> {
  await ctx.phased.destroy();
  ctx.trainer.dispose?.();
  ctx.reference?.dispose();
  ctx.policy.dispose();
}

/** Appends a metrics row to metrics.jsonl and hands it to TensorBoard (rank 0 only). */
export function recordMetrics(ctx: RunContext, row: Record<string, unknown>): void {
  if (!ctx.dist.isMain) return;
  ctx.run.appendMetrics(row);
  ctx.observers!.metrics(row);
}

/** How prompts of `template` are rendered: the recipe's chat setting and thinking switch. */
export function promptRendering(recipe: Recipe, template: string): PromptRendering {
  return { template, chat: recipe.model.chat_template, enableThinking: recipe.model.enable_thinking };
}

export interface TrainOptions {
  resume?: boolean;
  /** On resume, accept changed recipe keys that alter training (recorded in recipe-changes.jsonl). */
  allowRecipeChange?: boolean;
  /** Overrides recipe.data.data_dir. */
  dataDir?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Called after every step with its metrics row (the progress bar). */
  onStep?: (row: Record<string, unknown>) => void;
  /** Called when a phase of a step starts (the progress bar). */
  onPhase?: (phase: TrainPhase, step: number) => void;
  engines: EngineFactory;
  /**
   * Data parallelism (src/parallel): this rank's context. Every rank draws the same prompts and generates,
   * grades and trains its block of them; rank 0 alone writes the run directory. Default: one process.
   */
  dist?: DistContext;
}

/** The phases of a step, in order (eval and checkpoint only on their steps). */
export type TrainPhase = 'generate' | 'grade' | 'old_log_prob' | 'update' | 'eval' | 'checkpoint';
