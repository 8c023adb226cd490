/**
 * `gtr generate --model DIR (--prompt "..." | --prompts file.jsonl) [--chat] [--n 4]
 *   [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K] [--min-p P] [--seed S] [--json]`
 * samples completions with the rollout engine and prints, per completion: text, token ids,
 * log-probs (log softmax(logits / T) of each sampled token, untruncated) and finish reason.
 *
 * --prompts: a JSONL file; each line is a JSON string, {"prompt": "..."} or {"messages": [...]}
 * (messages always go through the chat template). --chat wraps plain prompts as one user message
 * and applies the checkpoint's chat template with the generation prompt. Generation stops at the
 * tokenizer's EOS ids (tokenizer_config eos_token + generation_config eos_token_id) unless
 * --no-stop. --json prints one JSON object per completion (JSONL).
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkContextLength, checkModelDir, readQwen3Config, resolveModelPath } from '../../checkpoint/index.js';
import { parseJsonLines } from '../../data/jsonl.js';
import { Policy } from '../../policy.js';
import { cutAtStop, generateWithStats, resolveKvBudget } from '../../rollout/index.js';
import { Tokenizer, type ChatMessage } from '../../tokenizer/index.js';
import { boolFlag, intFlag, numberFlag, seedFlag } from '../flags.js';
import { parseDTypeFlag } from './init-model.js';

interface GenerateFlags {
  model: string;
  prompt?: string;
  prompts?: string;
  chat?: boolean;
  enableThinking?: boolean;
  n: string;
  maxNewTokens: string;
  temperature: string;
  topP?: string;
  topK?: string;
  minP?: string;
  seed: string;
  maxNumSeqs?: string;
  kvCacheGib?: string;
  blockSize?: string;
  stopString: string[];
  stop: boolean;
  device: string;
  dtype?: string;
  json?: boolean;
}

type PromptInput = { text: string } | { messages: ChatMessage[] };

/** `parse(v)`, or undefined for an absent flag. */
function opt(v: string | undefined, parse: (s: string) => number): number | undefined {
  return v === undefined ? undefined : parse(v);
}

/**
 * Text of a sampled response. The model's vocabulary is padded past the tokenizer's (a random or
 * real checkpoint may sample an id there); such ids have no text and are dropped, as training and
 * eval do (src/rollout/prompt.ts decodeResponse), while `tokens` in the output keeps every id.
 */
export function decodeSampled(tokenizer: Tokenizer, tokens: ArrayLike<number>): string {
  return tokenizer.decode(Array.from(tokens).filter((id) => id < tokenizer.vocabSize));
}

/**
 * Reads a prompts JSONL file.
 * @throws Error naming the file and line for invalid JSON or an unknown line shape.
 */
export async function readPromptsFile(path: string): Promise<PromptInput[]> {
  const text = await readFile(path, 'utf8');
  const out: PromptInput[] = [];
  for (const { line, value: v } of parseJsonLines(text, path)) {
    if (typeof v === 'string') out.push({ text: v });
    else if (v && typeof v === 'object' && typeof (v as { prompt?: unknown }).prompt === 'string')
      out.push({ text: (v as { prompt: string }).prompt });
    else if (v && typeof v === 'object' && Array.isArray((v as { messages?: unknown }).messages))
      out.push({ messages: (v as { messages: ChatMessage[] }).messages });
    else throw new Error(`${path}:${line}: expected a JSON string, {"prompt": "..."} or {"messages": [...]}`);
  }
  if (out.length === 0) throw new Error(`${path}: no prompts`);
  return out;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('sample completions from a model with the rollout engine')
    .requiredOption(
      '--model <dir|id>',
      'checkpoint directory (HF layout, with tokenizer files) or hub id owner/name[@revision]',
    )
    .option('--prompt <text>', 'one prompt')
    .option('--prompts <file.jsonl>', 'prompts file: JSON strings, {"prompt"} or {"messages"} per line')
    .option('--chat', 'wrap plain prompts as a user message and apply the chat template')
    .option(
      '--enable-thinking <bool>',
      'Qwen3 thinking switch passed to the chat template (true|false; also 1/0, yes/no)',
      boolFlag('--enable-thinking'),
    )
    .option('--n <n>', 'samples per prompt', '1')
    .option('--max-new-tokens <n>', 'maximum new tokens per sample', '256')
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', '1')
    .option('--top-p <p>', 'nucleus sampling mass in (0, 1]')
    .option('--top-k <k>', 'keep the k most likely tokens (0 = off)')
    .option('--min-p <p>', 'min-p threshold in [0, 1]')
    .option('--seed <s>', 'random seed', '0')
    .option('--max-num-seqs <n>', 'sequences decoding at once at most')
    .option(
      '--kv-cache-gib <gib>',
      'KV cache budget in GiB (default: on CUDA the free memory less a margin; on CPU what the call needs)',
    )
    .option('--block-size <n>', 'tokens per KV cache block (a power of two)', '32')
    .option(
      '--stop-string <s>',
      'stop string (repeatable): the completion ends at its first match, cut before it',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--no-stop', 'do not stop at the tokenizer EOS ids')
    .option('--device <device>', 'cpu, cuda or cuda:N', 'cpu')
    .option('--dtype <dtype>', 'compute dtype: fp32 or bf16')
    .option('--json', 'print one JSON object per completion')
    .action(async (opts: GenerateFlags) => {
      if ((opts.prompt === undefined) === (opts.prompts === undefined))
        throw new Error('give exactly one of --prompt or --prompts');
      // Every flag is checked before any file is read or any memory is allocated.
      const sampling = {
        n: intFlag('--n', { min: 1 })(opts.n),
        maxNewTokens: intFlag('--max-new-tokens', { min: 1 })(opts.maxNewTokens),
        temperature: numberFlag('--temperature', { min: 0 })(opts.temperature),
        topP: opt(opts.topP, numberFlag('--top-p', { min: 0, max: 1 })),
        topK: opt(opts.topK, intFlag('--top-k', { min: 0 })),
        minP: opt(opts.minP, numberFlag('--min-p', { min: 0, max: 1 })),
        seed: seedFlag()(opts.seed),
        maxNumSeqs: opt(opts.maxNumSeqs, intFlag('--max-num-seqs', { min: 1 })),
      };
      opts.model = await resolveModelPath(opts.model, '--model'); // a hub id: its cached snapshot
      checkModelDir(opts.model, '--model');
      const modelConfig = await readQwen3Config(opts.model);
      const inputs: PromptInput[] =
        opts.prompt !== undefined ? [{ text: opts.prompt }] : await readPromptsFile(opts.prompts!);
      const tokenizer = await Tokenizer.fromDir(opts.model);
      const chatOpts = { addGenerationPrompt: true, enableThinking: opts.enableThinking, tokenize: true as const };
      const prompts = inputs.map((p, i) => {
        const ids =
          'messages' in p
            ? tokenizer.applyChatTemplate(p.messages, chatOpts)
            : opts.chat
              ? tokenizer.applyChatTemplate([{ role: 'user', content: p.text }], chatOpts)
              : tokenizer.encode(p.text);
        if (ids.length === 0) throw new Error(`prompt ${i} encodes to no tokens`);
        checkContextLength(ids.length, sampling.maxNewTokens, modelConfig.native.maxPositionEmbeddings, {
          prompt: opts.prompt !== undefined ? '--prompt' : `${opts.prompts}:prompt ${i + 1}`,
          maxNewTokens: '--max-new-tokens',
          limit: join(opts.model, 'config.json'),
        });
        return ids;
      });
      const policy = await Policy.load(opts.model, {
        device: opts.device,
        dtype: opts.dtype ? parseDTypeFlag(opts.dtype) : undefined,
      });
      try {
        const kv = resolveKvBudget(
          opt(opts.kvCacheGib, numberFlag('--kv-cache-gib', { min: 0 })),
          opts.device,
          0,
          '--kv-cache-gib',
        );
        if (!opts.json) console.error(kv.describe);
        const stopStrings = opts.stopString;
        const { rollouts, stats } = await generateWithStats(policy, prompts, {
          ...sampling,
          stopTokenIds: opts.stop ? tokenizer.eosTokenIds : [],
          kvCacheGib: kv.gib,
          blockSize: intFlag('--block-size', { min: 1 })(opts.blockSize ?? '32'),
          stopStrings,
          tokenBytes: stopStrings.length > 0 ? tokenizer.tokenBytes() : undefined,
          vocabSize: tokenizer.vocabSize,
        });
        for (const group of rollouts) {
          for (const r of group) {
            const decoded = decodeSampled(tokenizer, r.tokens);
            const text =
              r.finishReason === 'stop' && stopStrings.length > 0 ? cutAtStop(decoded, stopStrings) : decoded;
            if (opts.json) {
              console.log(
                JSON.stringify({
                  prompt: r.promptIndex,
                  sample: r.sampleIndex,
                  text,
                  tokens: Array.from(r.tokens),
                  logprobs: Array.from(r.logprobs),
                  finishReason: r.finishReason,
                  timings: r.timings,
                  preemptions: r.preemptions,
                }),
              );
              continue;
            }
            const sum = r.logprobs.reduce((a, b) => a + b, 0);
            console.log(
              `=== prompt ${r.promptIndex} sample ${r.sampleIndex} (${r.finishReason}, ${r.tokens.length} tokens, sum log-prob ${sum.toFixed(3)})`,
            );
            console.log(text);
            console.log(`tokens: ${Array.from(r.tokens).join(' ')}`);
            console.log(`logprobs: ${Array.from(r.logprobs, (x) => x.toFixed(4)).join(' ')}`);
          }
        }
        if (opts.json) {
          console.log(JSON.stringify({ stats })); // the last line: the engine's statistics (KV pool, preemptions, timings)
        } else {
          const tps = stats.generatedTokens / Math.max(stats.wallMs / 1000, 1e-9);
          console.error(
            `${stats.generatedTokens} tokens in ${stats.wallMs.toFixed(0)} ms (${tps.toFixed(1)} tok/s, ${stats.steps} steps, ` +
              `${stats.meanRunning.toFixed(1)} running on average); KV pool ${(stats.kvBytes / 2 ** 30).toFixed(3)} GiB ` +
              `(${stats.kvBlocks} blocks of ${stats.blockSize}), peak ${stats.peakBlocks} blocks, ${stats.preemptions} preemptions`,
          );
        }
      } finally {
        policy.dispose();
      }
    });
}
