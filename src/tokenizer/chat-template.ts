/**
 * Chat templates (tokenizer_config.json `chat_template`, a Jinja template) rendered with
 * @huggingface/jinja, with the variables transformers' `apply_chat_template` passes.
 */
import { Template } from '@huggingface/jinja';
import { createContext, Script, type Context } from 'node:vm';

/** Default bound on one render, in ms: real chat templates render in well under a millisecond. */
export const DEFAULT_TEMPLATE_TIMEOUT_MS = 5000;

// Rendering runs through a vm script only for its `timeout`: V8 interrupts the synchronous render
// (a template looping over range(10**12), say) instead of hanging the process. It is not a sandbox.
const RENDER = new Script('template.render(vars)');

/** One chat turn. `reasoning_content` is read by Qwen3's template for assistant turns. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content: string;
  reasoning_content?: string;
  [key: string]: unknown;
}

/** Rendering options, named after transformers' `apply_chat_template` keywords. */
export interface ChatTemplateOptions {
  /** Append the assistant turn header (`<|im_start|>assistant\n` for Qwen3). Default false. */
  addGenerationPrompt?: boolean;
  /**
   * Qwen3's thinking switch. `false` makes the template emit an empty `<think>\n\n</think>\n\n`
   * after the generation prompt; `true` or undefined leaves thinking to the model. Passed to the
   * template only when defined (the template tests `enable_thinking is defined`).
   */
  enableThinking?: boolean;
  /** Further template variables (e.g. `tools`). */
  extra?: Record<string, unknown>;
}

/** A parsed chat template, reusable across renders. */
export class ChatTemplate {
  private readonly template: Template;
  private readonly specials: Record<string, unknown>;
  private readonly context: Context;
  private readonly timeoutMs: number;

  /**
   * @param source the Jinja source
   * @param specialTokens bos/eos token strings exposed to the template as `bos_token` / `eos_token`
   * @param options `timeoutMs`: bound on one render (default {@link DEFAULT_TEMPLATE_TIMEOUT_MS})
   * @throws Error when the template does not parse.
   */
  constructor(
    source: string,
    specialTokens: { bosToken?: string; eosToken?: string } = {},
    options: { timeoutMs?: number } = {},
  ) {
    this.template = new Template(source);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TEMPLATE_TIMEOUT_MS;
    this.context = createContext({ template: this.template, vars: undefined });
    this.specials = {};
    if (specialTokens.bosToken !== undefined) this.specials.bos_token = specialTokens.bosToken;
    if (specialTokens.eosToken !== undefined) this.specials.eos_token = specialTokens.eosToken;
  }

  /**
   * Renders `messages` to the prompt string.
   * @throws Error when `messages` is empty, a message lacks a string role/content, or the template
   *   raises during rendering or runs longer than the timeout (`chat template: rendering did not
   *   finish within N ms`).
   */
  render(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    if (messages.length === 0) throw new Error('chat template: messages is empty');
    messages.forEach((m, i) => {
      if (typeof m.role !== 'string' || typeof m.content !== 'string') {
        throw new Error(`chat template: messages[${i}] needs a string role and content`);
      }
    });
    const vars: Record<string, unknown> = {
      ...this.specials,
      ...options.extra,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    };
    if (options.enableThinking !== undefined) vars.enable_thinking = options.enableThinking;
    this.context.vars = vars;
    try {
      return RENDER.runInContext(this.context, { timeout: this.timeoutMs }) as string;
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err?.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        throw new Error(
          `chat template: rendering did not finish within ${this.timeoutMs} ms (does tokenizer_config.json chat_template loop without end?)`,
        );
      }
      throw new Error(`chat template: rendering failed: ${err?.message ?? String(e)}`);
    } finally {
      this.context.vars = undefined;
    }
  }
}
