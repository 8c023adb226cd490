/**
 * SFT examples: a dataset row becomes (prompt tokens, response tokens). The prompt is rendered
 * exactly as the RL loop renders it (src/rollout/prompt.ts `renderPrompt`: the recipe template,
 * raw text or the chat template), the response is `row.extra[responseField]` followed by the
 * tokenizer's EOS token, so the model learns to stop where the loop's sampler stops.
 */
import type { DatasetRow } from '../data/types.js';
import { renderPrompt, type PromptRendering } from '../rollout/prompt.js';
import type { Tokenizer } from '../tokenizer/index.js';

/** One tokenised SFT example. */
export interface SftExample {
  id: string;
  promptTokens: Int32Array;
  /** Target tokens, ending with EOS. */
  responseTokens: Int32Array;
}

/**
 * Tokenises rows into SFT examples.
 * @throws Error naming the row when its response field is missing / not a string, when the prompt is
 *   empty, or when the tokenizer has no EOS token.
 */
export function buildSftExamples(
  rows: readonly DatasetRow[],
  tokenizer: Tokenizer,
  rendering: PromptRendering,
  responseField: string,
): SftExample[] {
  const eos = tokenizer.eosTokenId;
  if (eos === undefined) throw new Error('sft: the tokenizer has no eos_token (tokenizer_config.json)');
  return rows.map((row) => {
    const response = row.extra[responseField];
    if (typeof response !== 'string' || response.length === 0) {
      throw new Error(`sft: row ${row.id} has no string field "${responseField}" (data.response_field)`);
    }
    const prompt = renderPrompt(tokenizer, row, rendering);
    if (prompt.tokens.length === 0) throw new Error(`sft: row ${row.id} renders to an empty prompt`);
    const resp = tokenizer.encode(response, { addSpecialTokens: false });
    return { id: row.id, promptTokens: prompt.tokens, responseTokens: Int32Array.from([...resp, eos]) };
  });
}
