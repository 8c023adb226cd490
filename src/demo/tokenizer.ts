/**
 * The demo's small tokenizer, written as Hugging Face `tokenizer.json` + `tokenizer_config.json`
 * (+ `generation_config.json` for the EOS id) so src/tokenizer's `Tokenizer.fromDir` loads it with
 * @huggingface/tokenizers like any checkpoint's tokenizer.
 *
 * Design (the @huggingface/tokenizers 0.2.0 JS port has no WordLevel model, so this is a BPE model
 * with no merges and `ignore_merges: true`):
 * - pre-tokenizer: one `Split` regex, `Isolated`, that cuts the text into the words of the DAPO
 *   prompt template (with an optional leading space, e.g. " following") or else single characters;
 * - model: BPE whose vocabulary holds every printable ASCII character, "\n", and those words; with
 *   ignore_merges a pre-token found in the vocabulary is one token, any other is split into chars;
 * - decoder: `Fuse` (concatenate), so decode(encode(s)) === s for any printable-ASCII text;
 * - special tokens <|endoftext|> (EOS and pad), <|im_start|>, <|im_end|> at ids 0, 1, 2.
 * Digits are always single tokens (the arithmetic is done digit by digit).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DAPO_PREFIX, DAPO_SUFFIX } from '../data/templates.js';

/** The special tokens, in id order. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
/** The EOS (and pad) token. */
export const DEMO_EOS = '<|endoftext|>';

/** Words that become single tokens: the DAPO template's words, the task's words, "Answer:". */
export function demoWords(): string[] {
  const fromTemplate = (DAPO_PREFIX + DAPO_SUFFIX).match(/[A-Za-z]+/g) ?? [];
  const words = new Set<string>(['Answer:', 'What', 'is', ...fromTemplate]);
  return [...words].filter((w) => w.length > 1).sort();
}

/** Escapes a literal for a regular expression. */
function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The pre-tokenizer regex: a known word (optionally after one space, not followed by a letter), else one character. */
export function demoSplitPattern(words: readonly string[]): string {
  const alts = [...words]
    .sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
    .map(escapeRegex)
    .join('|');
  return ` ?(?:${alts})(?![A-Za-z])|[\\s\\S]`;
}

/** The vocabulary: token -> id (special tokens, printable ASCII, "\n", words with and without a leading space). */
export function demoVocab(): Map<string, number> {
  const vocab = new Map<string, number>();
  const add = (t: string) => {
    if (!vocab.has(t)) vocab.set(t, vocab.size);
  };
  for (const t of SPECIAL_TOKENS) add(t);
  add('\n');
  for (let c = 32; c < 127; c++) add(String.fromCharCode(c));
  for (const w of demoWords()) {
    add(w);
    add(` ${w}`);
  }
  return vocab;
}

/** The tokenizer.json object (HF tokenizers format, version 1.0). */
export function demoTokenizerJson(): Record<string, unknown> {
  const vocab = demoVocab();
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: vocab.get(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: 'Split',
      pattern: { Regex: demoSplitPattern(demoWords()) },
      behavior: 'Isolated',
      invert: false,
    },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab: Object.fromEntries(vocab),
      merges: [],
    },
  };
}

/** Number of token ids of the demo tokenizer (the model's vocab_size). */
export function demoVocabSize(): number {
  return demoVocab().size;
}

/**
 * Writes tokenizer.json, tokenizer_config.json (eos / pad = <|endoftext|>, no chat template: the
 * demo renders raw prompts) and generation_config.json (eos_token_id) into `dir` (created).
 * @returns the vocabulary size and the EOS id
 */
export function writeDemoTokenizer(dir: string): { vocabSize: number; eosTokenId: number } {
  mkdirSync(dir, { recursive: true });
  const json = demoTokenizerJson();
  const vocab = demoVocab();
  const eos = vocab.get(DEMO_EOS)!;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json, null, 1) + '\n');
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    eos_token: DEMO_EOS,
    pad_token: DEMO_EOS,
    bos_token: null,
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: 4096,
    added_tokens_decoder: Object.fromEntries(
      SPECIAL_TOKENS.map((content) => [
        String(vocab.get(content)),
        {
          content,
          lstrip: false,
          normalized: false,
          rstrip: false,
          single_word: false,
          special: true,
        },
      ]),
    ),
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ bos_token_id: null, eos_token_id: [eos], transformers_version: '4.51.0' }, null, 2) + '\n',
  );
  return { vocabSize: vocab.size, eosTokenId: eos };
}
