/**
 * `gtr train`'s loop: recipe -> rollout -> reward -> advantage -> loss -> update -> checkpoint.
 *
 * Per step: the next prompts of a seeded, resumable order; n samples per prompt; grading and
 * overlong shaping; group advantages; optional DAPO dynamic sampling (drop, or refill with more
 * prompts); the update phase (./update.ts: old log-probs recomputed by the trainer, per-epoch GTR
 * snapshots, shuffled mini-batches, optimizer steps); metrics (JSONL, TensorBoard; names in
 * ./metric-names.ts), a few decoded samples, the run's HTML report, atomic checkpoints and then
 * periodic evaluation (an evaluation that fails is logged and counted, and training goes on).
 * SIGINT (the `signal`) cancels a running generation or evaluation and saves the last completed
 * step, or finishes an update already under way and saves it. The run directory is opened
 * (locked, cleaned, resumed) by ./resume.ts.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { saveCheckpointAtomic } from '../checkpoint/save.js';
import type { PromptSamplerState } from '../data/sampler.js';
import { DistContext } from '../dist/context.js';
import { shardRange } from '../dist/shard.js';
import { globalRollout } from '../dist/rollout-columns.js';
import { mixSeeds } from '../data/prng.js';
import { runEvaluation } from '../eval/run.js';
import { reportToMarkdown } from '../eval/writers.js';
import { native } from '../native/binding.js';
import { Policy } from '../policy.js';
import type { Recipe } from '../recipe/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { resolveKvBudget, TRAINER_STATE_BYTES_PER_PARAM } from '../rollout/kv-budget.js';
import type { RolloutEngine, RolloutStats, TrainerEngine, LossSettings } from './engines.js';
import { renderPrompt, rolloutMetrics, sampleAndGrade, toTrainSamples, type Group, type PromptItem } from './rollout-phase.js';
import { openRun, type OpenedRun } from './resume.js';
import { LOOP_STATE_FILE, RunDir, TRAINER_STATE_FILE } from './run-dir.js';
import { RunObservers } from './run-observers.js';
import { M, evalLengthName, evalMeanName, evalMetricName, trainerMetricName } from './metric-names.js';
import { checkGrader, graderStepStats } from './grader-health.js';
import { preflightTraining } from './preflight.js';
import { updatePolicy } from './update.js';
import { PhasedData, loadPhaseBenchmarks, type PhasedState } from './phased-data.js';

/** Builds the engines for a policy (the native ones in ./adapters.ts; fakes in tests). */
export type EngineFactory = (policy: Policy, reference: Policy | undefined, recipe: Recipe) => { rollout: RolloutEngine; trainer: TrainerEngine & { dispose?(): void } };

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
   * Data parallelism (src/dist): this rank's context. Every rank draws the same prompts and generates,
   * grades and trains its block of them; rank 0 alone writes the run directory. Default: one process.
   */
  dist?: DistContext;
}

export interface TrainSummary {
  runDir: string;
  lastStep: number;
  interrupted: boolean;
  /** Periodic evaluations that failed (each logged; training went on). */
  evalErrors: number;
}

/** The phases of a step, in order (eval and checkpoint only on their steps). */
export type TrainPhase = 'generate' | 'grade' | 'old_log_prob' | 'update' | 'eval' | 'checkpoint';

interface LoopState {
  step: number;
  /** The prompt order of a run without data.schedule. */
  sampler?: PromptSamplerState;
  /** Each phase's prompt order (data.schedule). */
  phases?: PhasedState;
}

/** The recipe's loss settings; the schema resolved a null penalty by algorithm name (docs/GTR.md: plain GRPO is beta = 0). */
export function lossSettings(recipe: Recipe): LossSettings {
  const l = recipe.algorithm.loss;
  const penalty = l.penalty;
  return {
    clipLow: l.clip_ratio_low, clipHigh: l.clip_ratio_high, dualClip: l.dual_clip, aggregation: l.aggregation,
    penalty, sigma: l.sigma, beta: penalty === 'none' ? 0 : l.beta, betaMode: l.beta_mode,
    klCoef: l.kl_ref.coef, klEstimator: l.kl_ref.estimator, entropyCoef: l.entropy_coef,
  };
}

function resolveDevice(d: string): string {
  if (d !== 'auto') return d;
  return native().versions().cudaAvailable ? 'cuda' : 'cpu';
}

/**
 * Runs (or resumes) training as the recipe says. Throws on bad input, naming what is wrong; throws
 * after saving the last step when train.max_consecutive_skipped_steps steps in a row skipped every
 * update.
 */
export async function train(recipe: Recipe, opts: TrainOptions): Promise<TrainSummary> {
  const log = opts.log ?? ((s: string) => console.log(s));
  await preflightTraining(recipe);
  // Every benchmark is resolved now, so a missing file or failed download stops the run before step 1.
  const benchmarks = recipe.eval.every_steps > 0 ? await loadPhaseBenchmarks(recipe, opts.dataDir ?? recipe.data.data_dir) : [];
  const dist = opts.dist ?? DistContext.single();
  // Rank 0 alone opens (locks, cleans, resumes) the run directory and tells the others what it found.
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
    const shared = await dist.broadcastJson<Shared>({ error: openError?.message ?? null, dir: opened?.run.dir ?? '', resumeFrom: opened?.resumeFrom ?? null }, 'run directory from rank 0');
    if (shared.error !== null) {
      opened?.release();
      throw openError ?? new Error(`rank ${dist.rank}: rank 0 could not open the run directory: ${shared.error}`);
    }
    if (!dist.isMain) opened = { run: new RunDir(shared.dir), release: () => {}, resumeFrom: shared.resumeFrom ?? undefined };
  }
  try {
    return await trainOpened(recipe, opts, log, opened!, benchmarks, dist);
  } finally {
    opened!.release();
  }
}

async function trainOpened(recipe: Recipe, opts: TrainOptions, log: (line: string) => void, opened: OpenedRun, benchmarks: Awaited<ReturnType<typeof loadPhaseBenchmarks>>, dist: DistContext): Promise<TrainSummary> {
  const run = opened.run;
  const resumeFrom = opened.resumeFrom?.dir;
  const resolved = resolveDevice(recipe.model.device);
  // One GPU per rank: rank LOCAL_RANK of this machine uses cuda:LOCAL_RANK (torchrun's convention).
  const device = dist.distributed && resolved === 'cuda' ? `cuda:${dist.localRank}` : resolved;
  const dtype = recipe.model.dtype === 'float32' ? 'float32' : 'bfloat16';
  const modelDir = resumeFrom ? join(resumeFrom, 'policy') : recipe.model.path;
  const tokenizer = await Tokenizer.fromDir(recipe.model.tokenizer ?? recipe.model.path);
  const state: LoopState | undefined = resumeFrom ? opened.resumeFrom!.state as LoopState : undefined;
  const phased = await PhasedData.open(recipe, { dataDir: opts.dataDir ?? recipe.data.data_dir, benchmarks, state: state?.phases, legacySampler: state?.sampler });
  const loss = lossSettings(recipe);
  let policy: Policy | undefined, reference: Policy | undefined;
  let engines: ReturnType<EngineFactory>;
  let kv: ReturnType<typeof resolveKvBudget>;
  try {
    // Every phase's grader is loaded and called once before step 1.
    for (const phase of phased.phases) await checkGrader(phase.grader, phase.data.rows[0]!);
    policy = await Policy.load(modelDir, { device, dtype });
    reference = loss.klCoef > 0 ? await Policy.load(recipe.model.path, { device, dtype }) : undefined;
    // The KV budget is fixed before the trainer's state exists, counting that state in (same pool every step).
    kv = resolveKvBudget(recipe.rollout.kv_cache_gib, device, TRAINER_STATE_BYTES_PER_PARAM * policy.numParameters);
    log(kv.describe);
    engines = opts.engines(policy, reference, recipe);
    if (resumeFrom) await engines.trainer.loadState(join(resumeFrom, TRAINER_STATE_FILE));
  } catch (e) {
    // The grader workers would keep the process alive.
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

  const renderingOf = (template: string) => ({ template, chat: recipe.model.chat_template, enableThinking: recipe.model.enable_thinking });
  const stopTokenIds = [...new Set([...tokenizer.eosTokenIds, ...recipe.rollout.stop_token_ids])];
  const G = recipe.rollout.samples_per_prompt;
  let skippedPrompts = 0;
  const observers = dist.isMain ? new RunObservers(run.dir, { tensorboard: recipe.run.tensorboard, report: recipe.run.report, log }) : undefined;
  /** Appends a metrics row to metrics.jsonl and hands it to TensorBoard (rank 0 only). */
  const record = (row: Record<string, unknown>): void => {
    if (!dist.isMain) return;
    run.appendMetrics(row);
    observers!.metrics(row);
  };

  /** The next `count` prompts of the step's phase that fit max_prompt_tokens (longer ones are skipped and counted). */
  const nextPrompts = (count: number, step: number): PromptItem[] => {
    const { data, sampler, spec } = phased.at(step).phase;
    const rendering = renderingOf(spec.template);
    const out: PromptItem[] = [];
    for (let guard = 0; out.length < count && guard < 100 * count; guard++) {
      const p = renderPrompt(tokenizer, data.rows[sampler.next(1)[0]], rendering);
      if (p.tokens.length > recipe.data.max_prompt_tokens || p.tokens.length === 0) skippedPrompts++;
      else out.push(p);
    }
    if (out.length < count) throw new Error(`${data.file}: fewer than ${count} prompts fit data.max_prompt_tokens = ${recipe.data.max_prompt_tokens}`);
    return out;
  };

  /** Rank 0 writes (atomically: a temporary directory renamed); every rank waits for it. */
  const saveCheckpoint = async (step: number): Promise<void> => {
    if (dist.distributed) {
      // DDP's guarantee, checked: what rank 0 saves is every rank's model.
      await trainer.verifyReplicas!();
      log(`rank ${dist.rank}: weights at step ${step} bitwise equal to rank 0's on all ${dist.worldSize} ranks`);
    }
    await dist.barrier(`before checkpoint step ${step}`);
    if (dist.isMain) await saveCheckpointMain(step);
    await dist.barrier(`checkpoint step ${step} written by rank 0`);
  };
  const saveCheckpointMain = async (step: number): Promise<void> => {
    const final = await saveCheckpointAtomic(run.checkpointDir(step), async (tmp) => {
      await policy.save(join(tmp, 'policy'), { tokenizerFrom: recipe.model.tokenizer ?? recipe.model.path });
      await trainer.saveState(join(tmp, TRAINER_STATE_FILE));
      await writeFile(join(tmp, LOOP_STATE_FILE), JSON.stringify((phased.scheduled ? { step, phases: phased.state() } : { step, sampler: phased.phases[0]!.sampler.state() }) satisfies LoopState));
    });
    run.markLatest(step);
    run.prune(recipe.checkpoint.keep_last);
    log(`checkpoint ${final}`);
  };

  let evalErrors = 0;
  const evaluateAt = async (step: number): Promise<void> => {
    const e = recipe.eval;
    const t0 = performance.now();
    const val: Record<string, number> = {};
    // Every phase is evaluated (with its own template and grader under a schedule), so forgetting and transition both show.
    for (const phase of phased.phases) {
      const report = await runEvaluation(rollout, tokenizer, {
        benchmarks: phase.spec.eval, n: e.n, k: e.k, limit: e.limit, rendering: renderingOf(phased.scheduled ? phase.spec.template : e.template),
        temperature: e.temperature, topP: e.top_p, maxNewTokens: e.max_new_tokens, seed: mixSeeds(recipe.rollout.seed, 7919, step),
        stopTokenIds, dataDir: opts.dataDir ?? recipe.data.data_dir, modelName: `${recipe.model.path}@step${step}`,
        preloaded: phase.benchmarks, signal: opts.signal,
        context: { maxPositions: policy!.config.native.maxPositionEmbeddings, maxNewTokensName: 'eval.max_new_tokens', source: join(recipe.model.path, 'config.json') },
      }, phase.grader);
      const dir = join(run.dir, 'eval');
      mkdirSync(dir, { recursive: true });
      const { results, ...rep } = report;
      const suffix = phased.scheduled ? `-${phase.spec.name}` : '';
      writeFileSync(join(dir, `step-${String(step).padStart(6, '0')}${suffix}.json`), JSON.stringify(rep, null, 2));
      for (const b of report.benchmarks) {
        const label = phased.benchmarkLabel(phase, b.name);
        for (const [k, v] of Object.entries(b.metrics)) val[evalMetricName(label, k)] = v;
        val[evalLengthName(label)] = b.meanResponseTokens;
      }
      for (const [k, v] of Object.entries(report.macro)) val[phased.scheduled ? evalMetricName(phase.spec.name, `mean/${k}`) : evalMeanName(k)] = v;
      log(`${phased.scheduled ? `phase ${phase.spec.name}:\n` : ''}${reportToMarkdown(report)}`);
      void results;
    }
    record({ step, kind: 'eval', ...val, [M.timeTesting]: (performance.now() - t0) / 1000, [M.valFailed]: 0, [M.valFailuresTotal]: evalErrors });
  };

  /** The step is already saved: an evaluation that fails is logged and counted, and training goes on. */
  const evaluateGuarded = async (step: number): Promise<void> => {
    if (dist.distributed) {
      if (dist.isMain) await evaluateGuardedMain(step);
      return dist.barrier(`evaluation at step ${step} on rank 0`);
    }
    return evaluateGuardedMain(step);
  };
  const evaluateGuardedMain = async (step: number): Promise<void> => {
    try {
      await evaluateAt(step);
    } catch (e) {
      if (opts.signal?.aborted) return log(`evaluation at step ${step} cancelled`);
      evalErrors++;
      const message = (e as Error).message;
      log(`warning: evaluation at step ${step} failed, training goes on: ${message}`);
      record({ step, kind: 'eval', [M.valFailed]: 1, [M.valFailuresTotal]: evalErrors, error: message });
    }
  };
  const maxSkipped = recipe.train.max_consecutive_skipped_steps;
  let consecutiveSkipped = 0;
  let stopError: Error | undefined;

  const startStep = state?.step ?? 0;
  let lastDone = startStep;
  let interrupted = false;
  try {
    for (let step = startStep + 1; step <= recipe.train.steps; step++) {
      if (await dist.any(!!opts.signal?.aborted, `interrupt check before step ${step}`)) { interrupted = true; break; }
      const t0 = performance.now();
      const request = {
        n: G, maxNewTokens: recipe.rollout.max_new_tokens, temperature: recipe.rollout.temperature, topP: recipe.rollout.top_p,
        topK: recipe.rollout.top_k, minP: recipe.rollout.min_p, stopTokenIds, seed: mixSeeds(recipe.rollout.seed, step),
        stopStrings: recipe.rollout.stop, tokenBytes: recipe.rollout.stop.length > 0 ? tokenizer.tokenBytes() : undefined,
        kvCacheGib: kv.gib, blockSize: recipe.rollout.block_size, maxNumSeqs: recipe.rollout.max_num_seqs,
      };
      const rewards = { overlong: { enabled: recipe.reward.overlong.enabled, bufferTokens: recipe.reward.overlong.buffer_tokens, penalty: recipe.reward.overlong.penalty }, maxNewTokens: recipe.rollout.max_new_tokens };
      const ds = recipe.algorithm.dynamic_sampling;
      let groups: Group[] = [];
      let generateMs = 0, rewardMs = 0, rounds = 0;
      const rolloutStats: RolloutStats[] = [];
      // This rank's kept groups with their index in the global kept order (round-major, then prompt).
      const kept: { group: Group; globalIndex: number }[] = [];
      let globalKept = 0;
      /** Per local group: its order key in the global batch (round, then global prompt index). */
      const groupKeys: number[] = [];
      let samples: ReturnType<typeof toTrainSamples>['samples'] = [];
      try {
        // Dynamic sampling 'refill': keep sampling prompts until prompts_per_step groups carry signal
        // (counted over all ranks, so every rank makes the same decision).
        do {
          const want = rounds === 0 ? recipe.train.prompts_per_step : recipe.train.prompts_per_step - globalKept;
          // Every rank draws the same prompts; each samples and grades its block, streams seeded by global index.
          const prompts = nextPrompts(want, step);
          const sh = shardRange(prompts.length, dist.rank, dist.worldSize);
          const mine = prompts.slice(sh.start, sh.end);
          const r = mine.length > 0
            ? await sampleAndGrade(mine, rollout, tokenizer, phased.at(step).phase.grader, { ...request, seed: mixSeeds(request.seed, rounds), promptIndexOffset: sh.start }, rewards, dist.distributed ? undefined : opts.signal, (p) => opts.onPhase?.(p, step))
            : { groups: [], generateMs: 0, rewardMs: 0, rolloutStats: undefined };
          generateMs += r.generateMs;
          if (r.rolloutStats) rolloutStats.push(r.rolloutStats);
          rewardMs += r.rewardMs;
          groups = groups.concat(r.groups);
          r.groups.forEach((_, i) => groupKeys.push(rounds * 2 ** 20 + sh.start + i));
          const ts = toTrainSamples(r.groups, recipe.algorithm.advantage, ds.enabled);
          const counts = await dist.counts(ts.keptGroups.length, 'dynamic sampling kept groups');
          const before = globalKept + counts.slice(0, dist.rank).reduce((a, b) => a + b, 0);
          ts.keptGroups.forEach((gi, k) => kept.push({ group: r.groups[gi], globalIndex: before + k }));
          globalKept += counts.reduce((a, b) => a + b, 0);
          rounds++;
        } while (ds.enabled && ds.mode === 'refill' && globalKept < recipe.train.prompts_per_step && rounds <= ds.max_refill_batches);
        const limit = ds.enabled && ds.mode === 'refill' ? recipe.train.prompts_per_step : Infinity;
        samples = toTrainSamples(kept.filter((k) => k.globalIndex < limit).map((k) => k.group), recipe.algorithm.advantage, false).samples;
      } catch (e) {
        if (!dist.distributed && opts.signal?.aborted) { interrupted = true; break; }
        throw e;
      }
      const graderStats = graderStepStats(groups.flatMap((g) => g.responses.map((r) => r.grade)), step, log);
      // Every rank joins the update when any rank has samples (the optimizer steps are collective).
      const anySamples = dist.distributed ? (await dist.sum([samples.length], 'sample count'))[0] > 0 : samples.length > 0;
      const upd = anySamples
        ? await updatePolicy(trainer, samples, {
          epochs: recipe.train.epochs_per_step, miniBatchesPerEpoch: recipe.train.mini_batches_per_epoch, tokensPerMicroBatch: recipe.train.tokens_per_micro_batch,
          loss, anchor: recipe.algorithm.loss.anchor, useReference: !!reference, seed: recipe.train.seed,
        }, step, (p) => opts.onPhase?.(p, step), dist)
        : undefined;
      const g = await globalRollout(dist, groups, groupKeys, samples.map((x) => x.advantage));
      const all = g.responses;
      const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
      const lengths = all.map((r) => r.tokens.length);
      const advantages = g.advantages;
      const row: Record<string, unknown> = {
        step, kind: 'train', ...(phased.scheduled ? { phase: phased.at(step).phase.spec.name } : {}),
        [M.scoreMean]: mean(all.map((r) => r.reward)),
        [M.scoreMax]: all.length ? Math.max(...all.map((r) => r.reward)) : 0,
        [M.scoreMin]: all.length ? Math.min(...all.map((r) => r.reward)) : 0,
        [M.accuracy]: mean(all.map((r) => (r.grade.correct ? 1 : 0))),
        [M.advantagesMax]: advantages.length ? Math.max(...advantages) : 0,
        [M.advantagesMin]: advantages.length ? Math.min(...advantages) : 0,
        [M.graderErrors]: graderStats.errors, [M.graderTimeouts]: graderStats.timeouts,
        [M.responseLengthMean]: mean(lengths),
        [M.responseLengthMax]: lengths.length ? Math.max(...lengths) : 0,
        [M.responseLengthMin]: lengths.length ? Math.min(...lengths) : 0,
        [M.responseLengthClipRatio]: mean(all.map((r) => (r.finishReason === 'length' ? 1 : 0))),
        [M.promptLengthMean]: mean(g.promptLengths),
        [M.batchPrompts]: g.promptLengths.length, [M.batchKeptGroups]: globalKept, [M.batchSamples]: advantages.length, [M.batchRolloutRounds]: rounds,
        [M.batchSkippedLongPrompts]: skippedPrompts,
        [M.rolloutLogprobDiff]: upd?.logprobGap ?? 0,
        ...rolloutMetrics(rolloutStats),
        [M.timeGen]: generateMs / 1000, [M.timeReward]: rewardMs / 1000,
        [M.timeOldLogProb]: (upd?.oldLogprobMs ?? 0) / 1000, [M.timeSnapshotLogProb]: (upd?.snapshotMs ?? 0) / 1000, [M.timeUpdateActor]: (upd?.updateMs ?? 0) / 1000,
        [M.timeStep]: (performance.now() - t0) / 1000,
        [M.optimizerSteps]: upd?.optimizerSteps ?? 0, [M.skippedSteps]: upd?.skippedSteps ?? 0,
      };
      for (const [k, v] of Object.entries(upd?.metrics ?? {})) {
        const name = trainerMetricName(k);
        if (name) row[name] = v;
      }
      if (upd && upd.skippedSteps > 0) {
        log(`warning: step ${step}: ${upd.skippedSteps} of ${upd.optimizerSteps} optimizer updates skipped (non-finite loss or gradient); the weights were left unchanged by them`);
      }
      if (upd && upd.optimizerSteps > 0) consecutiveSkipped = upd.skippedSteps === upd.optimizerSteps ? consecutiveSkipped + 1 : 0;
      record(row);
      if (dist.isMain) run.appendSamples(groups.slice(0, recipe.run.log_samples_per_step).map((g) => ({
        step, id: g.prompt.row.id, prompt: g.prompt.text, gold: g.prompt.row.answer, response: g.responses[0].text, reward: g.responses[0].reward, extracted: g.responses[0].grade.extracted,
      })));
      opts.onStep?.(row);
      lastDone = step;
      const last = step === recipe.train.steps;
      // The step is saved before the evaluation, so an evaluation that fails or is interrupted loses no training.
      const stopping = await dist.any(!!opts.signal?.aborted, `interrupt check after step ${step}`);
      if ((recipe.checkpoint.every_steps > 0 && step % recipe.checkpoint.every_steps === 0) || last || stopping) {
        opts.onPhase?.('checkpoint', step);
        await saveCheckpoint(step);
      }
      if ((dist.distributed ? !stopping : !opts.signal?.aborted) && recipe.eval.every_steps > 0 && (step % recipe.eval.every_steps === 0 || last)) {
        opts.onPhase?.('eval', step);
        await evaluateGuarded(step);
      }
      observers?.refresh();
      if (stopping || (!dist.distributed && opts.signal?.aborted)) { interrupted = true; break; }
      if (maxSkipped > 0 && consecutiveSkipped >= maxSkipped) {
        stopError = new Error(`train.max_consecutive_skipped_steps = ${maxSkipped}: ${consecutiveSkipped} steps in a row, the last step ${step}, skipped every optimizer update (non-finite loss or gradient), so the policy no longer learns; stopped after saving step ${step}. Lower train.lr or set train.max_grad_norm, then resume with --allow-recipe-change`);
        break;
      }
    }
    if ((interrupted || stopError) && lastDone > 0 && await dist.broadcastJson(dist.isMain && run.latest() !== run.checkpointDir(lastDone), 'final checkpoint needed')) await saveCheckpoint(lastDone);
  } finally {
    await phased.destroy();
    trainer.dispose?.();
    reference?.dispose();
    policy.dispose();
  }
  if (!existsSync(join(run.dir, 'resolved.yaml'))) throw new Error('internal: resolved recipe missing');
  if (stopError) throw stopError;
  return { runDir: run.dir, lastStep: lastDone, interrupted, evalErrors };
}
