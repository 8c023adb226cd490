/**
 * The rollout and reward phases of one RL step: group sampling (n responses per prompt) through the
 * rollout engine (prompts rendered and responses decoded by src/rollout/prompt.ts), grading on the worker pool, DAPO's
 * soft overlong shaping, group advantages and (optionally) DAPO dynamic sampling.
 */
import type { GradeResult, GraderPool } from '../grading/index.js';
import { graderRow } from '../grading/row.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { computeAdvantages, dynamicSamplingFilter, overlongPenalty } from './advantages.js';
import type { TrainSample } from './batch.js';
import type { GenerateRequest, RolloutEngine, RolloutStats } from '../rollout/engine.js';
import { responseText, type PromptItem } from '../rollout/prompt.js';
import { M } from '../run/metric-names.js';

export interface GradedResponse {
  text: string;
  tokens: Int32Array;
  samplerLogprobs: Float32Array;
  finishReason: 'stop' | 'length';
  /** Reward after overlong shaping. */
  reward: number;
  grade: GradeResult;
}

export interface Group {
  prompt: PromptItem;
  responses: GradedResponse[];
  /** The policy version that generated the responses (src/rl/rollout-source.ts); set by the rollout source. */
  policyVersion?: number;
}

export interface RewardSettings {
  overlong: { enabled: boolean; bufferTokens: number; penaltyFactor: number };
  maxNewTokens: number;
}

/**
 * Samples `request.n` responses for each prompt and grades them (results in prompt order).
 * `onPhase` is told when generation and grading start (the progress bar).
 */
export async function sampleAndGrade(
  items: PromptItem[],
  engine: RolloutEngine,
  tokenizer: Tokenizer,
  grader: GraderPool,
  request: GenerateRequest,
  rewards: RewardSettings,
  signal?: AbortSignal,
  onPhase?: (phase: 'generate' | 'grade') => void,
): Promise<{ groups: Group[]; generateMs: number; rewardMs: number; rolloutStats?: RolloutStats }> {
  onPhase?.('generate');
  let t = performance.now();
  const out = await engine.generate(
    items.map((p) => p.tokens),
    request,
    signal,
  );
  const rolloutStats = engine.lastStats?.();
  const generateMs = performance.now() - t;
  onPhase?.('grade');
  t = performance.now();
  const flat = items.flatMap((p, i) =>
    out[i].map((r) => ({ p, r, text: responseText(tokenizer, r, request.stopStrings) })),
  );
  const grades = await grader.grade(flat.map((f) => ({ response: f.text, row: graderRow(f.p.row), prompt: f.p.text })));
  const groups: Group[] = items.map((prompt) => ({ prompt, responses: [] }));
  flat.forEach((f, k) => {
    const shaping = rewards.overlong.enabled
      ? overlongPenalty(
          f.r.tokens.length,
          rewards.maxNewTokens,
          rewards.overlong.bufferTokens,
          rewards.overlong.penaltyFactor,
        )
      : 0;
    groups[items.indexOf(f.p)].responses.push({
      text: f.text,
      tokens: f.r.tokens,
      samplerLogprobs: f.r.logprobs,
      finishReason: f.r.finishReason,
      reward: grades[k].score + shaping,
      grade: grades[k],
    });
  });
  return { groups, generateMs, rewardMs: performance.now() - t, rolloutStats };
}

/**
 * The rollout engine's KV statistics as step metrics (summed or maxed over the step's rollout
 * rounds): pool size and peak in GiB, blocks left in use at the end (0 unless a leak), preemptions,
 * prompt prefills, mean running sequences.
 */
export function rolloutMetrics(stats: RolloutStats[]): Record<string, number> {
  if (stats.length === 0) return {};
  const GiB = 2 ** 30;
  const max = (f: (s: RolloutStats) => number) => Math.max(...stats.map(f));
  const sum = (f: (s: RolloutStats) => number) => stats.reduce((a, s) => a + f(s), 0);
  return {
    [M.rolloutKvCacheGib]: max((s) => s.kvBytes) / GiB,
    [M.rolloutKvPeakGib]: max((s) => (s.peakBlocks * s.kvBytes) / Math.max(s.kvBlocks + 1, 1)) / GiB,
    [M.rolloutKvBlocksInUseEnd]: max((s) => s.blocksInUseEnd),
    [M.rolloutPreemptions]: sum((s) => s.preemptions),
    [M.rolloutPromptPrefills]: sum((s) => s.promptPrefills),
    [M.rolloutMeanRunning]:
      sum((s) => s.meanRunning * s.wallMs) /
      Math.max(
        sum((s) => s.wallMs),
        1e-9,
      ),
  };
}

/**
 * Advantages per group (registry name) and the samples the update phase (./update.ts) trains on;
 * with `dynamicSampling`, groups whose rewards are all equal (zero advantage everywhere) are dropped.
 */
export function toUpdateSamples(
  groups: Group[],
  advantage: string,
  dynamicSampling: boolean,
): { samples: TrainSample[]; keptGroups: number[]; signalGroups: number } {
  if (groups.length === 0) return { samples: [], keptGroups: [], signalGroups: 0 };
  const G = groups[0].responses.length;
  const rewards = Float64Array.from(groups.flatMap((g) => g.responses.map((r) => r.reward)));
  const adv = computeAdvantages(advantage, rewards, G);
  const withSignal = dynamicSamplingFilter(rewards, G);
  const keptGroups = dynamicSampling ? withSignal : groups.map((_, i) => i);
  const samples: TrainSample[] = [];
  for (const gi of keptGroups) {
    groups[gi].responses.forEach((r, j) =>
      samples.push({
        group: gi,
        promptTokens: groups[gi].prompt.tokens,
        responseTokens: r.tokens,
        samplerLogprobs: r.samplerLogprobs,
        advantage: adv[gi * G + j],
      }),
    );
  }
  return { samples, keptGroups, signalGroups: withSignal.length };
}
