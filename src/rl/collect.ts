/**
 * A step's first phase, "collect groups": the next prompts of the step's phase, n samples per
 * prompt, grading and overlong shaping (./rollout-phase.ts), group advantages and DAPO dynamic
 * sampling ('drop' keeps the groups with signal; 'refill' samples more prompts until
 * prompts_per_step groups carry signal). Data-parallel, every rank draws the same prompts and
 * samples and grades its block of them; the kept-group counts are summed over the ranks so every
 * rank makes the same refill decision.
 */
import { mixSeeds } from '../data/prng.js';
import { shardRange } from '../parallel/shard.js';
import type { RolloutStats } from '../rollout/engine.js';
import { renderPrompt, type PromptItem } from '../rollout/prompt.js';
import { graderStepStats, type GraderStepStats } from './grader-health.js';
import type { TrainSample } from './batch.js';
import { sampleAndGrade, toUpdateSamples, type Group } from './rollout-phase.js';
import { promptRendering, type RunContext } from './run-context.js';

/** What a step collected on this rank, for the update and the metrics row. */
export interface CollectedGroups {
  /** This rank's groups of every round, in order (all of them, kept or not: the metrics read them). */
  groups: Group[];
  /** Per group: its order key in the global batch (round * 2^20 + global prompt index). */
  groupKeys: number[];
  /**
   * The update's samples: the kept groups' responses with their advantages (refill: the first
   * prompts_per_step kept).
   */
  samples: TrainSample[];
  /** Groups kept by dynamic sampling, over all ranks and rounds (all groups when it is off). */
  keptGroups: number;
  /**
   * Kept groups whose rewards differ (the ones with advantage signal), over all ranks and rounds:
   * `batch/kept_groups`. Equal to keptGroups with dynamic sampling on (it keeps only those).
   */
  signalGroups: number;
  /** Rollout rounds (1 unless refill sampled more). */
  rounds: number;
  generateMs: number;
  rewardMs: number;
  /** The rollout engine's KV statistics, one per round where this rank generated. */
  rolloutStats: RolloutStats[];
  grader: GraderStepStats;
}

/** Runs already warned that a step's groups repeat prompts (one warning per run). */
const warnedRepeats = new WeakSet<RunContext>();

/**
 * The next `count` prompts of the step's phase that fit data.max_prompt_tokens; longer or empty ones
 * are skipped and counted in `ctx.progress.skippedPrompts`. The sampler walks epochs of the rows, so
 * however few rows fit, the draws go on until `count` are found: 2 x rows draws in a row without a
 * fit span a whole epoch, and only then is it certain that none fits. Fewer distinct fitting rows
 * than `count` (a one-row dataset, or few short enough) repeat prompts within the step: warned once.
 * @throws Error naming the data file when no row fits
 */
export function nextPrompts(ctx: RunContext, count: number, step: number): PromptItem[] {
  const { recipe, phased, tokenizer } = ctx;
  const { data, sampler, spec } = phased.at(step).phase;
  const rendering = promptRendering(recipe, spec.template);
  const out: PromptItem[] = [];
  const rows = new Set<number>();
  for (let misses = 0; out.length < count;) {
    const i = sampler.next(1)[0]!;
    const p = renderPrompt(tokenizer, data.rows[i], rendering);
    if (p.tokens.length > recipe.data.max_prompt_tokens || p.tokens.length === 0) {
      ctx.progress.skippedPrompts++;
      if (++misses >= 2 * data.rows.length)
        throw new Error(
          `${data.file}: none of its ${data.rows.length} rows fits data.max_prompt_tokens = ${recipe.data.max_prompt_tokens} (or every prompt renders empty); raise data.max_prompt_tokens`,
        );
    } else {
      misses = 0;
      out.push(p);
      rows.add(i);
    }
  }
  if (rows.size < count && !warnedRepeats.has(ctx)) {
    warnedRepeats.add(ctx);
    ctx.log(
      `warning: step ${step}: ${data.file} gave only ${rows.size} distinct prompt(s) that fit data.max_prompt_tokens = ${recipe.data.max_prompt_tokens} for train.prompts_per_step = ${count}: groups of the same prompt repeat within a step (use more rows, or fewer prompts per step)`,
    );
  }
  return out;
}

/**
 * Collects the step's groups (rollout, reward, advantage, dynamic sampling) and checks the grader's
 * health on them. Returns undefined when a single-process run was interrupted (`opts.signal`)
 * during generation or grading: the step is dropped, and the loop saves the last completed one.
 * Data-parallel runs are not cancelled mid-step (ranks would disagree); they stop between steps.
 * @throws what sampling, grading or graderStepStats throw
 */
export async function collectGroups(ctx: RunContext, step: number): Promise<CollectedGroups | undefined> {
  const { recipe, dist, opts, tokenizer } = ctx;
  const request = {
    n: recipe.rollout.samples_per_prompt,
    maxNewTokens: recipe.rollout.max_new_tokens,
    temperature: recipe.rollout.temperature,
    topP: recipe.rollout.top_p,
    topK: recipe.rollout.top_k,
    minP: recipe.rollout.min_p,
    stopTokenIds: ctx.stopTokenIds,
    seed: mixSeeds(recipe.rollout.seed, step),
    stopStrings: recipe.rollout.stop,
    tokenBytes: recipe.rollout.stop.length > 0 ? tokenizer.tokenBytes() : undefined,
    vocabSize: tokenizer.vocabSize, // ids past the tokenizer (a padded embedding) are never sampled
    kvCacheGib: ctx.kvCacheGib,
    blockSize: recipe.rollout.block_size,
    maxNumSeqs: recipe.rollout.max_num_seqs,
  };
  const rewards = {
    overlong: {
      enabled: recipe.reward.overlong.enabled,
      bufferTokens: recipe.reward.overlong.buffer_tokens,
      penaltyFactor: recipe.reward.overlong.penalty_factor,
    },
    maxNewTokens: recipe.rollout.max_new_tokens,
  };
  const ds = recipe.algorithm.dynamic_sampling;
  const perStep = recipe.train.prompts_per_step;
  const c: Omit<CollectedGroups, 'grader'> = {
    groups: [],
    groupKeys: [],
    samples: [],
    keptGroups: 0,
    signalGroups: 0,
    rounds: 0,
    generateMs: 0,
    rewardMs: 0,
    rolloutStats: [],
  };
  // This rank's kept groups with their index in the global kept order (round-major, then prompt).
  const kept: { group: Group; globalIndex: number }[] = [];
  try {
    do {
      const want = c.rounds === 0 ? perStep : perStep - c.keptGroups;
      // Every rank draws the same prompts; each samples and grades its block, streams seeded by global index.
      const prompts = nextPrompts(ctx, want, step);
      const sh = shardRange(prompts.length, dist.rank, dist.worldSize);
      const mine = prompts.slice(sh.start, sh.end);
      const r =
        mine.length > 0
          ? await sampleAndGrade(
              mine,
              ctx.rollout,
              tokenizer,
              ctx.phased.at(step).phase.grader,
              { ...request, seed: mixSeeds(request.seed, c.rounds), promptIndexOffset: sh.start },
              rewards,
              dist.distributed ? undefined : opts.signal,
              (p) => opts.onPhase?.(p, step),
            )
          : { groups: [], generateMs: 0, rewardMs: 0, rolloutStats: undefined };
      c.generateMs += r.generateMs;
      if (r.rolloutStats) c.rolloutStats.push(r.rolloutStats);
      c.rewardMs += r.rewardMs;
      c.groups = c.groups.concat(r.groups);
      r.groups.forEach((_, i) => c.groupKeys.push(c.rounds * 2 ** 20 + sh.start + i));
      const scored = toUpdateSamples(r.groups, recipe.algorithm.advantage, ds.enabled);
      const counts = await dist.counts(scored.keptGroups.length, 'dynamic sampling kept groups');
      const before = c.keptGroups + counts.slice(0, dist.rank).reduce((a, b) => a + b, 0);
      scored.keptGroups.forEach((gi, k) => kept.push({ group: r.groups[gi], globalIndex: before + k }));
      c.keptGroups += counts.reduce((a, b) => a + b, 0);
      c.signalGroups += ds.enabled
        ? counts.reduce((a, b) => a + b, 0)
        : (await dist.sum([scored.signalGroups], 'groups with signal'))[0]!;
      c.rounds++;
    } while (ds.enabled && ds.mode === 'refill' && c.keptGroups < perStep && c.rounds <= ds.max_refill_batches);
    // Refill may overshoot in its last round; the update takes exactly prompts_per_step groups.
    const limit = ds.enabled && ds.mode === 'refill' ? perStep : Infinity;
    c.samples = toUpdateSamples(
      kept.filter((k) => k.globalIndex < limit).map((k) => k.group),
      recipe.algorithm.advantage,
      false,
    ).samples;
  } catch (e) {
    if (!dist.distributed && opts.signal?.aborted) return undefined;
    throw e;
  }
  return {
    ...c,
    grader: graderStepStats(
      c.groups.flatMap((g) => g.responses.map((r) => r.grade)),
      step,
      ctx.log,
    ),
  };
}
