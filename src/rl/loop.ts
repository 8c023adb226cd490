/**
 * `gtr train`'s loop: recipe -> rollout -> reward -> advantage -> loss -> update -> checkpoint.
 *
 * Per step: the next prompts of a seeded, resumable order; n samples per prompt; grading and
 * overlong shaping; group advantages; optional DAPO dynamic sampling (drop, or refill with more
 * prompts); the update phase (./update.ts: old log-probs recomputed by the trainer, per-epoch GTR
 * snapshots, shuffled mini-batches, optimizer steps); metrics (JSONL), a few decoded samples,
 * periodic evaluation and atomic checkpoints. SIGINT (the `signal`) cancels a running generation
 * and saves the last completed step, or finishes an update already under way and saves it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../data/load.js';
import { PromptSampler, type PromptSamplerState } from '../data/sampler.js';
import { mixSeeds } from '../data/prng.js';
import { runEvaluation } from '../eval/run.js';
import { reportToMarkdown } from '../eval/writers.js';
import { GraderPool } from '../grading/index.js';
import { native } from '../native/binding.js';
import { Policy } from '../policy.js';
import { saveResolvedRecipe, type Recipe } from '../recipe/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import type { RolloutEngine, TrainerEngine, LossSettings } from './engines.js';
import { renderPrompt, sampleAndGrade, toTrainSamples, type Group, type PromptItem } from './rollout-phase.js';
import { checkGrader, graderStepStats } from './grader-health.js';
import { preflightTraining } from './preflight.js';
import { RunDir } from './run-dir.js';
import { updatePolicy } from './update.js';

/** Builds the engines for a policy (the native ones in ./adapters.ts; fakes in tests). */
export type EngineFactory = (policy: Policy, reference: Policy | undefined, recipe: Recipe) => { rollout: RolloutEngine; trainer: TrainerEngine & { dispose?(): void } };

export interface TrainOptions {
  resume?: boolean;
  /** Overrides recipe.data.data_dir. */
  dataDir?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Called after every step with its metrics row (the progress bar). */
  onStep?: (row: Record<string, unknown>) => void;
  engines: EngineFactory;
}

export interface TrainSummary {
  runDir: string;
  lastStep: number;
  interrupted: boolean;
}

interface LoopState {
  step: number;
  sampler: PromptSamplerState;
}

/** The penalty the recipe means: null resolves by algorithm name (GTR.md: plain GRPO is beta = 0). */
export function lossSettings(recipe: Recipe): LossSettings {
  const l = recipe.algorithm.loss;
  const penalty = l.penalty ?? (recipe.algorithm.name === 'gtr' ? 'gtr' : 'none');
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

/** Runs (or resumes) training as the recipe says. Throws on bad input, naming what is wrong. */
export async function train(recipe: Recipe, opts: TrainOptions): Promise<TrainSummary> {
  const log = opts.log ?? ((s: string) => console.log(s));
  if (recipe.rollout.stop.length > 0) throw new Error('rollout.stop: stop strings are not supported yet; use rollout.stop_token_ids');
  if (recipe.algorithm.loss.snapshot_logprobs !== 'forward') throw new Error('algorithm.loss.snapshot_logprobs: only "forward" is implemented');
  await preflightTraining(recipe);
  const run = new RunDir(resolve(recipe.run.dir));
  const resumeFrom = opts.resume ? run.latest() : undefined;
  if (opts.resume && !run.holdsRun()) throw new Error(`--resume: ${run.dir} holds no run to resume`);
  if (!opts.resume) run.startFresh();
  saveResolvedRecipe(recipe, run.dir);

  const device = resolveDevice(recipe.model.device);
  const dtype = recipe.model.dtype === 'float32' ? 'float32' : 'bfloat16';
  const modelDir = resumeFrom ? join(resumeFrom, 'policy') : recipe.model.path;
  const tokenizer = await Tokenizer.fromDir(recipe.model.tokenizer ?? recipe.model.path);
  const policy = await Policy.load(modelDir, { device, dtype });
  const loss = lossSettings(recipe);
  const reference = loss.klCoef > 0 ? await Policy.load(recipe.model.path, { device, dtype }) : undefined;
  const { rollout, trainer } = opts.engines(policy, reference, recipe);
  let state: LoopState | undefined;
  if (resumeFrom) {
    await trainer.loadState(join(resumeFrom, 'trainer.state'));
    state = JSON.parse(readFileSync(join(resumeFrom, 'loop-state.json'), 'utf8')) as LoopState;
    run.truncateLogsAfter(state.step);
    log(`resuming ${run.dir} after step ${state.step}`);
  } else if (opts.resume) {
    run.truncateLogsAfter(0); // a run stopped before its first checkpoint starts over
    log(`resuming ${run.dir}: no checkpoint yet, starting from step 1`);
  }

  const data = await loadDataset(recipe.data.train, {
    dataDir: opts.dataDir ?? recipe.data.data_dir ?? undefined, limit: recipe.data.limit ?? undefined, dropConflicts: recipe.data.drop_conflicts,
  });
  const sampler = state ? PromptSampler.fromState(state.sampler, data.rows.length) : new PromptSampler(data.rows.length, recipe.train.seed);
  const rendering = { template: recipe.data.template, chat: recipe.model.chat_template, enableThinking: recipe.model.enable_thinking };
  const stopTokenIds = [...new Set([...tokenizer.eosTokenIds, ...recipe.rollout.stop_token_ids])];
  const grader = new GraderPool({ grader: recipe.reward.grader, timeoutMs: recipe.reward.timeout_ms, isolation: recipe.reward.isolation, maxMemoryMb: recipe.reward.max_memory_mb });
  await checkGrader(grader, data.rows[0]!).catch(async (e) => { await grader.destroy(); throw e; });
  const G = recipe.rollout.samples_per_prompt;
  let skippedPrompts = 0;

  /** The next `count` prompts that fit max_prompt_tokens (longer ones are skipped and counted). */
  const nextPrompts = (count: number): PromptItem[] => {
    const out: PromptItem[] = [];
    for (let guard = 0; out.length < count && guard < 100 * count; guard++) {
      const p = renderPrompt(tokenizer, data.rows[sampler.next(1)[0]], rendering);
      if (p.tokens.length > recipe.data.max_prompt_tokens || p.tokens.length === 0) skippedPrompts++;
      else out.push(p);
    }
    if (out.length < count) throw new Error(`${data.file}: fewer than ${count} prompts fit data.max_prompt_tokens = ${recipe.data.max_prompt_tokens}`);
    return out;
  };

  const saveCheckpoint = async (step: number): Promise<void> => {
    const final = run.checkpointDir(step);
    const tmp = `${final}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await policy.save(join(tmp, 'policy'), { tokenizerFrom: recipe.model.tokenizer ?? recipe.model.path });
    await trainer.saveState(join(tmp, 'trainer.state'));
    writeFileSync(join(tmp, 'loop-state.json'), JSON.stringify({ step, sampler: sampler.state() } satisfies LoopState));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    run.markLatest(step);
    run.prune(recipe.checkpoint.keep_last);
    log(`checkpoint ${final}`);
  };

  const evaluateAt = async (step: number): Promise<void> => {
    const e = recipe.eval;
    const report = await runEvaluation(rollout, tokenizer, {
      benchmarks: e.benchmarks, n: e.n, k: e.k, limit: e.limit, rendering: { ...rendering, template: e.template },
      temperature: e.temperature, topP: e.top_p, maxNewTokens: e.max_new_tokens, seed: mixSeeds(recipe.rollout.seed, 7919, step),
      stopTokenIds, dataDir: opts.dataDir ?? recipe.data.data_dir, modelName: `${recipe.model.path}@step${step}`,
      context: { maxPositions: policy.config.native.maxPositionEmbeddings, maxNewTokensName: 'eval.max_new_tokens', source: join(recipe.model.path, 'config.json') },
    }, grader);
    const dir = join(run.dir, 'eval');
    mkdirSync(dir, { recursive: true });
    const { results, ...rep } = report;
    writeFileSync(join(dir, `step-${String(step).padStart(6, '0')}.json`), JSON.stringify(rep, null, 2));
    const macro: Record<string, number> = {};
    for (const [k, v] of Object.entries(report.macro)) macro[`eval/${k}`] = v;
    run.appendMetrics({ step, kind: 'eval', ...macro });
    log(reportToMarkdown(report));
    void results;
  };

  const startStep = state?.step ?? 0;
  let lastDone = startStep;
  let interrupted = false;
  try {
    for (let step = startStep + 1; step <= recipe.train.steps; step++) {
      if (opts.signal?.aborted) { interrupted = true; break; }
      const t0 = performance.now();
      const request = {
        n: G, maxNewTokens: recipe.rollout.max_new_tokens, temperature: recipe.rollout.temperature, topP: recipe.rollout.top_p,
        topK: recipe.rollout.top_k, minP: recipe.rollout.min_p, stopTokenIds, seed: mixSeeds(recipe.rollout.seed, step),
      };
      const rewards = { overlong: { enabled: recipe.reward.overlong.enabled, bufferTokens: recipe.reward.overlong.buffer_tokens, penalty: recipe.reward.overlong.penalty }, maxNewTokens: recipe.rollout.max_new_tokens };
      const ds = recipe.algorithm.dynamic_sampling;
      let groups: Group[] = [];
      let generateMs = 0, rewardMs = 0, rounds = 0;
      const kept: Group[] = [];
      let samples: ReturnType<typeof toTrainSamples>['samples'] = [];
      try {
        // Dynamic sampling 'refill': keep sampling prompts until prompts_per_step groups carry signal.
        do {
          const want = rounds === 0 ? recipe.train.prompts_per_step : recipe.train.prompts_per_step - kept.length;
          const r = await sampleAndGrade(nextPrompts(want), rollout, tokenizer, grader, { ...request, seed: mixSeeds(request.seed, rounds) }, rewards, opts.signal);
          generateMs += r.generateMs;
          rewardMs += r.rewardMs;
          groups = groups.concat(r.groups);
          const ts = toTrainSamples(r.groups, recipe.algorithm.advantage, ds.enabled);
          kept.push(...ts.keptGroups.map((i) => r.groups[i]));
          rounds++;
        } while (ds.enabled && ds.mode === 'refill' && kept.length < recipe.train.prompts_per_step && rounds <= ds.max_refill_batches);
        samples = toTrainSamples(kept.slice(0, ds.enabled && ds.mode === 'refill' ? recipe.train.prompts_per_step : kept.length), recipe.algorithm.advantage, false).samples;
      } catch (e) {
        if (opts.signal?.aborted) { interrupted = true; break; }
        throw e;
      }
      const graderStats = graderStepStats(groups.flatMap((g) => g.responses.map((r) => r.grade)), step, log);
      const upd = samples.length > 0
        ? await updatePolicy(trainer, samples, {
          epochs: recipe.train.epochs_per_step, miniBatchesPerEpoch: recipe.train.mini_batches_per_epoch, tokensPerMicroBatch: recipe.train.tokens_per_micro_batch,
          loss, anchor: recipe.algorithm.loss.anchor, useReference: !!reference, seed: recipe.train.seed,
        }, step)
        : undefined;
      const all = groups.flatMap((g) => g.responses);
      const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
      const row: Record<string, unknown> = {
        step, kind: 'train',
        'reward/mean': mean(all.map((r) => r.reward)),
        'reward/accuracy': mean(all.map((r) => (r.grade.correct ? 1 : 0))),
        'reward/grader_errors': graderStats.errors, 'reward/grader_timeouts': graderStats.timeouts,
        'response/length_mean': mean(all.map((r) => r.tokens.length)),
        'response/clip_fraction': mean(all.map((r) => (r.finishReason === 'length' ? 1 : 0))),
        'batch/prompts': groups.length, 'batch/kept_groups': kept.length, 'batch/samples': samples.length, 'batch/rollout_rounds': rounds,
        'batch/skipped_long_prompts': skippedPrompts,
        'rollout/logprob_gap': upd?.logprobGap ?? 0,
        'time/generate_s': generateMs / 1000, 'time/reward_s': rewardMs / 1000,
        'time/old_logprob_s': (upd?.oldLogprobMs ?? 0) / 1000, 'time/snapshot_s': (upd?.snapshotMs ?? 0) / 1000, 'time/update_s': (upd?.updateMs ?? 0) / 1000,
        'time/step_s': (performance.now() - t0) / 1000,
        'update/optimizer_steps': upd?.optimizerSteps ?? 0, 'update/skipped_steps': upd?.skippedSteps ?? 0,
      };
      for (const [k, v] of Object.entries(upd?.metrics ?? {})) row[`train/${k}`] = v;
      run.appendMetrics(row);
      run.appendSamples(groups.slice(0, recipe.run.log_samples_per_step).map((g) => ({
        step, id: g.prompt.row.id, gold: g.prompt.row.answer, response: g.responses[0].text, reward: g.responses[0].reward, extracted: g.responses[0].grade.extracted,
      })));
      opts.onStep?.(row);
      lastDone = step;
      const last = step === recipe.train.steps;
      if (recipe.eval.every_steps > 0 && (step % recipe.eval.every_steps === 0 || last)) await evaluateAt(step);
      if ((recipe.checkpoint.every_steps > 0 && step % recipe.checkpoint.every_steps === 0) || last || opts.signal?.aborted) await saveCheckpoint(step);
      if (opts.signal?.aborted) { interrupted = true; break; }
    }
    if (interrupted && lastDone > 0 && run.latest() !== run.checkpointDir(lastDone)) await saveCheckpoint(lastDone);
  } finally {
    await grader.destroy();
    trainer.dispose?.();
    reference?.dispose();
    policy.dispose();
  }
  if (!existsSync(join(run.dir, 'resolved.yaml'))) throw new Error('internal: resolved recipe missing');
  return { runDir: run.dir, lastStep: lastDone, interrupted };
}
