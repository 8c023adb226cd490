/**
 * Prompt rendering and response decoding, one way for training and evaluation: a dataset row's
 * prompt through its template (and the chat template), tokenised once; a response's tokens back to
 * the text graders see, cut at the stop string that ended it.
 */
import type { DatasetRow } from '../data/types.js';
import { buildPrompt } from '../data/templates.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { cutAtStop } from './generate.js';

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
  const text =
    p.kind === 'chat'
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

/**
 * The text graders see: the decoded response, and for one that ended on a stop string, without it
 * (vLLM's default output text).
 */
export function responseText(
  tokenizer: Tokenizer,
  r: { tokens: Int32Array; finishReason: string },
  stopStrings: readonly string[] | undefined,
): string {
  const text = decodeResponse(tokenizer, r.tokens);
  return r.finishReason === 'stop' && stopStrings?.length ? cutAtStop(text, stopStrings) : text;
}
