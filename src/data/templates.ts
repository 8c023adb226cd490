/**
 * Prompt templates: how a dataset problem becomes the policy's prompt.
 *
 * Each template defines the *user text* for a problem. That text is then given to the model in
 * one of two forms:
 * - `chat` (instruct models): `[{ role: 'user', content: userText }]`, rendered later through the
 *   tokenizer's chat template by src/tokenizer/.
 * - `text` (base models, e.g. Qwen3-1.7B-Base as in the paper): the same user text, verbatim, with
 *   nothing appended. We deliberately do NOT wrap it in a "Question: ...\nAnswer:" completion
 *   prefix: both templates already end with an instruction on where to put the answer, the DAPO
 *   training data is distributed with exactly this text, and using the identical string for base
 *   and instruct models keeps rewards and evaluations comparable across the two modes.
 *
 * `plain` is the problem text with no instruction at all, for tasks (such as `gtr demo`'s
 * synthetic arithmetic) whose model was trained to end its response with an "Answer: N" line
 * without being told to; it keeps prompts short for tiny models.
 */

import type { ChatMessage } from '../tokenizer/chat-template.js';

export type { ChatMessage };

/** A built prompt: chat messages (instruct models) or raw text (base models). */
export type Prompt = { kind: 'chat'; messages: ChatMessage[] } | { kind: 'text'; text: string };

/** One named template. */
export interface PromptTemplate {
  name: string;
  /** One-line description, shown in recipe docs. */
  description: string;
  /** The user text for a problem (no chat markup). */
  userText(problem: string): string;
}

/** The DAPO-Math-17k instruction that precedes the problem (exact text of the HF release). */
export const DAPO_PREFIX =
  'Solve the following math problem step by step. The last line of your response should be of the form ' +
  'Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n';
/** The DAPO-Math-17k instruction that follows the problem. */
export const DAPO_SUFFIX = '\n\nRemember to put your answer on its own line after "Answer:".';
/** The Qwen2.5-Math evaluation instruction that follows the problem. */
export const BOXED_SUFFIX = '\nPlease reason step by step, and put your final answer within \\boxed{}.';

const TEMPLATES: Record<string, PromptTemplate> = {
  dapo: {
    name: 'dapo',
    description: 'DAPO-Math-17k instruction; the answer goes on a final "Answer: ..." line (dapo grader)',
    userText: (problem) => DAPO_PREFIX + problem + DAPO_SUFFIX,
  },
  plain: {
    name: 'plain',
    description:
      'the problem text as is, no instruction (tasks whose responses carry their own final "Answer:" line, e.g. the demo)',
    userText: (problem) => problem,
  },
  boxed: {
    name: 'boxed',
    description: 'Qwen2.5-Math evaluation instruction; the answer goes in \\boxed{} (math grader)',
    userText: (problem) => problem + BOXED_SUFFIX,
  },
};

/** Names of the registered templates, sorted. */
export const TEMPLATE_NAMES = Object.keys(TEMPLATES).sort() as readonly string[];

/** Looks up a template; throws an error listing the valid names when `name` is unknown. */
export function getTemplate(name: string): PromptTemplate {
  const t = Object.hasOwn(TEMPLATES, name) ? TEMPLATES[name] : undefined;
  if (!t) throw new Error(`unknown prompt template "${name}"; valid templates: ${TEMPLATE_NAMES.join(', ')}`);
  return t;
}

/**
 * Builds the prompt for one problem.
 * @param template template name (`dapo` | `boxed` | `plain`)
 * @param problem the dataset row's problem text
 * @param opts.chat true: one user message for the chat template; false: the raw user text
 *   (base models; nothing is appended, see the module doc)
 */
export function buildPrompt(template: string, problem: string, opts: { chat: boolean }): Prompt {
  const content = getTemplate(template).userText(problem);
  return opts.chat ? { kind: 'chat', messages: [{ role: 'user', content }] } : { kind: 'text', text: content };
}
