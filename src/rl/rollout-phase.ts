/**
 * The rollout and reward phases of one RL step: templated prompts (tokenised once), group sampling
 * (n responses per prompt) through the rollout engine, decoding, grading on the worker pool, DAPO's
 * soft overlong shaping, group advantages and (optionally) DAPO dynamic sampling.
 */
import type { DatasetRow } from '../data/types.js';
import { buildPrompt } from '../data/templates.js';
import type { GradeResult, GraderPool } from '../grading/index.js';
import { graderRow } from '../grading/row.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { computeAdvantages, dynamicSamplingFilter, overlongPenalty } from './advantages.js';
import type { TrainSample } from './batch.js';
import type { GenerateRequest, RolloutEngine } from './engines.js';

/** A prompt ready for the engine. */
export interface PromptItem {
  row: DatasetRow;
  text: string;
  tokens: Int32Array;
}

export interface PromptRendering {
  template: string;
  chat: boolean;
  enableThinking: boolean;
}

/**
 * Renders and tokenises a dataset row's prompt (through the chat template when `chat`).
 * @throws Error when chat is asked for and the tokenizer has no chat template.
 */
export function renderPrompt(tokenizer: Tokenizer, row: DatasetRow, r: PromptRendering): PromptItem {
  const p = buildPrompt(r.template, row.problem, { chat: r.chat });
  const text = p.kind === 'chat'
    ? tokenizer.applyChatTemplate(p.messages, { addGenerationPrompt: true, enableThinking: r.enableThinking })
    : p.text;
  return { row, text, tokens: Int32Array.from(tokenizer.encode(text, { addSpecialTokens: false })) };
}

/**
 * A response's text. The model's vocabulary is padded past the tokenizer's (Qwen3: 151936 rows,
 * 151669 tokens); ids in that padding have no text and are dropped, as transformers' decode does.
 */
export function decodeResponse(tokenizer: Tokenizer, tokens: Int32Array): string {
  const ids = tokens.filter((id) => id < tokenizer.vocabSize);
  return tokenizer.decode(ids, { skipSpecialTokens: true });
}

/** The row as graders see it (one shape everywhere; see grading/row.ts). */
export { graderRow };

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
}

export interface RewardSettings {
  overlong: { enabled: boolean; bufferTokens: number; penalty: number };
  maxNewTokens: number;
}

/** Samples `request.n` responses for each prompt and grades them (results in prompt order). */
export async function sampleAndGrade(
  items: PromptItem[], engine: RolloutEngine, tokenizer: Tokenizer, grader: GraderPool,
  request: GenerateRequest, rewards: RewardSettings, signal?: AbortSignal,
): Promise<{ groups: Group[]; generateMs: number; rewardMs: number }> {
  let t = performance.now();
  const out = await engine.generate(items.map((p) => p.tokens), request, signal);
  const generateMs = performance.now() - t;
  t = performance.now();
  const flat = items.flatMap((p, i) => out[i].map((r) => ({ p, r, text: decodeResponse(tokenizer, r.tokens) })));
  const grades = await grader.grade(flat.map((f) => ({ response: f.text, row: graderRow(f.p.row), prompt: f.p.text })));
  const groups: Group[] = items.map((prompt) => ({ prompt, responses: [] }));
  flat.forEach((f, k) => {
    const shaping = rewards.overlong.enabled
      ? overlongPenalty(f.r.tokens.length, rewards.maxNewTokens, rewards.overlong.bufferTokens, rewards.overlong.penalty)
      : 0;
    groups[items.indexOf(f.p)].responses.push({
      text: f.text, tokens: f.r.tokens, samplerLogprobs: f.r.logprobs, finishReason: f.r.finishReason,
      reward: grades[k].score + shaping, grade: grades[k],
    });
  });
  return { groups, generateMs, rewardMs: performance.now() - t };
}

/**
 * Advantages per group (registry name) and the training samples; with `dynamicSampling`, groups
 * whose rewards are all equal (zero advantage everywhere) are dropped.
 */
export function toTrainSamples(groups: Group[], advantage: string, dynamicSampling: boolean): { samples: TrainSample[]; keptGroups: number[] } {
  if (groups.length === 0) return { samples: [], keptGroups: [] };
  const G = groups[0].responses.length;
  const rewards = Float64Array.from(groups.flatMap((g) => g.responses.map((r) => r.reward)));
  const adv = computeAdvantages(advantage, rewards, G);
  const keptGroups = dynamicSampling ? dynamicSamplingFilter(rewards, G) : groups.map((_, i) => i);
  const samples: TrainSample[] = [];
  for (const gi of keptGroups) {
    groups[gi].responses.forEach((r, j) => samples.push({
      group: gi, promptTokens: groups[gi].prompt.tokens, responseTokens: r.tokens, samplerLogprobs: r.samplerLogprobs, advantage: adv[gi * G + j],
    }));
  }
  return { samples, keptGroups };
}
