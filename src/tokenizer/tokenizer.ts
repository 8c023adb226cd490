/**
 * The policy's tokenizer: a Hugging Face `tokenizer.json` + `tokenizer_config.json` pair loaded with
 * @huggingface/tokenizers (pure JS, byte-level BPE for Qwen3), plus the checkpoint's chat template.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { ChatTemplate, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';

/** Options of {@link Tokenizer.encode}. */
export interface EncodeOptions {
  /**
   * Run the tokenizer.json post-processor (BOS/EOS insertion). Qwen3's post-processor adds nothing,
   * so the result is the same either way for Qwen3. Default true (as in transformers).
   */
  addSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (`<|im_end|>`, `<|endoftext|>`, ...) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

/** Options of {@link Tokenizer.applyChatTemplate}; `tokenize: true` returns token ids. */
export interface ApplyChatTemplateOptions extends ChatTemplateOptions {
  /** Return token ids (encoded without extra special tokens) instead of the rendered string. */
  tokenize?: boolean;
}

type JsonObject = Record<string, unknown>;

/**
 * Reads and parses one JSON object file.
 * @throws Error naming the file when it is missing, unreadable, not JSON, or not a JSON object.
 */
async function readJsonObject(path: string, what: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `${what} not found: ${path}` : `cannot read ${what} ${path}: ${(e as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: malformed ${what} (invalid JSON: ${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${path}: malformed ${what} (expected a JSON object)`);
  }
  return value as JsonObject;
}

/** A token given in tokenizer_config.json either as a string or as an AddedToken-like object. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as JsonObject).content === 'string') {
    return (value as JsonObject).content as string;
  }
  return undefined;
}

/**
 * A loaded tokenizer. Token ids are plain JS numbers (int32 range); use `Int32Array.from(ids)` for the
 * native boundary.
 */
export class Tokenizer {
  /** Number of distinct token ids (base vocabulary + added tokens; 151669 for Qwen3). */
  readonly vocabSize: number;
  /** Primary end-of-sequence id (tokenizer_config.json `eos_token`), or undefined if none. */
  readonly eosTokenId: number | undefined;
  /**
   * Every id that ends generation: `eos_token`, plus generation_config.json `eos_token_id`(s) when
   * that file is in the directory. Deduplicated, in that order.
   */
  readonly eosTokenIds: number[];
  /** Padding id (tokenizer_config.json `pad_token`), or undefined if none. */
  readonly padTokenId: number | undefined;
  /** Beginning-of-sequence id (`bos_token`), or undefined (Qwen3 has none). */
  readonly bosTokenId: number | undefined;
  /** The chat template, when tokenizer_config.json has a string `chat_template`. */
  readonly chatTemplate: ChatTemplate | undefined;

  private readonly hf: HfTokenizer;
  private readonly specialIds: Set<number>;
  private readonly byteLevel: boolean;
  private tokenBytesCache: { bytes: Uint8Array; offsets: Int32Array } | undefined;

  /**
   * Builds a tokenizer from already-parsed JSON.
   * @param tokenizerJson contents of tokenizer.json
   * @param tokenizerConfig contents of tokenizer_config.json
   * @param extraEosIds further end-of-sequence ids (e.g. from generation_config.json)
   * @param source a name for error messages (the directory or file)
   * @throws Error naming `source` when the tokenizer cannot be constructed or the chat template
   *   does not parse.
   */
  constructor(
    tokenizerJson: JsonObject,
    tokenizerConfig: JsonObject,
    extraEosIds: number[] = [],
    source = 'tokenizer',
  ) {
    const model = tokenizerJson.model as JsonObject | undefined;
    if (!model || typeof model !== 'object' || typeof model.type !== 'string') {
      throw new Error(`${source}: malformed tokenizer.json (missing "model" with a "type")`);
    }
    try {
      this.hf = new HfTokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new Error(`${source}: malformed tokenizer.json (${(e as Error).message})`);
    }
    const vocab = this.hf.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    // Byte-level BPE (GPT-2 / Qwen): vocabulary strings spell bytes through the bytes_to_unicode map.
    const decoder = tokenizerJson.decoder as JsonObject | null | undefined;
    const decoders =
      decoder && Array.isArray(decoder.decoders) ? (decoder.decoders as JsonObject[]) : decoder ? [decoder] : [];
    this.byteLevel = decoders.some((d) => d && d.type === 'ByteLevel');
    this.specialIds = new Set();
    for (const [id, tok] of this.hf.get_added_tokens_decoder()) if (tok.special) this.specialIds.add(id);

    const lookup = (field: string): number | undefined => {
      const content = tokenContent(tokenizerConfig[field]);
      if (content === undefined) return undefined;
      const id = this.hf.token_to_id(content);
      if (id === undefined) {
        throw new Error(`${source}: tokenizer_config.json ${field} "${content}" is not in the vocabulary`);
      }
      return id;
    };
    this.eosTokenId = lookup('eos_token');
    this.padTokenId = lookup('pad_token');
    this.bosTokenId = lookup('bos_token');
    const eos = this.eosTokenId === undefined ? [] : [this.eosTokenId];
    for (const id of extraEosIds) if (!eos.includes(id)) eos.push(id);
    this.eosTokenIds = eos;

    const template = tokenizerConfig.chat_template;
    if (typeof template === 'string') {
      try {
        this.chatTemplate = new ChatTemplate(template, {
          bosToken: tokenContent(tokenizerConfig.bos_token),
          eosToken: tokenContent(tokenizerConfig.eos_token),
        });
      } catch (e) {
        throw new Error(`${source}: tokenizer_config.json chat_template does not parse: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Loads tokenizer.json and tokenizer_config.json (and, if present, generation_config.json for extra
   * EOS ids) from a checkpoint directory.
   * @throws Error naming the file when one is missing, unreadable or malformed.
   */
  static async fromDir(dir: string): Promise<Tokenizer> {
    const tokenizerJson = await readJsonObject(join(dir, 'tokenizer.json'), 'tokenizer.json');
    const config = await readJsonObject(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json');
    const extra: number[] = [];
    const genPath = join(dir, 'generation_config.json');
    let gen: JsonObject | undefined;
    try {
      gen = await readJsonObject(genPath, 'generation_config.json');
    } catch (e) {
      if (!(e as Error).message.startsWith('generation_config.json not found')) throw e;
    }
    if (gen) {
      const eos = gen.eos_token_id;
      const list = Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos];
      for (const id of list) {
        if (!Number.isInteger(id)) throw new Error(`${genPath}: eos_token_id must be an integer or a list of integers`);
        extra.push(id as number);
      }
    }
    return new Tokenizer(tokenizerJson, config, extra, dir);
  }

  /** Token ids of `text` (NFC-normalized, byte-level BPE). Special-token strings in the text map to their ids. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /**
   * Text of `ids`. Invalid UTF-8 byte sequences decode to U+FFFD (as transformers' errors="replace").
   * @throws Error when an id is not an integer in [0, vocabSize).
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = Array.from(ids);
    for (const id of list) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new Error(`decode: token id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    if (list.length === 0) return '';
    return this.hf.decode(list, {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /**
   * The bytes each token id stands for, for matching stop strings on generated token ids (the
   * rollout engine concatenates them): id i is bytes[offsets[i], offsets[i + 1]); ids without a
   * token (none in the vocabulary) are empty. Byte-level vocabularies are read through GPT-2's
   * bytes_to_unicode map (openai/gpt-2 encoder.py); added tokens are their UTF-8 content; other
   * vocabularies use the UTF-8 of the token's decoded text. Computed once per tokenizer.
   */
  tokenBytes(): { bytes: Uint8Array; offsets: Int32Array } {
    if (this.tokenBytesCache) return this.tokenBytesCache;
    const unicodeToByte = new Map<number, number>();
    let extra = 0;
    for (let b = 0; b < 256; b++) {
      const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      unicodeToByte.set(printable ? b : 256 + extra++, b);
    }
    const byId = new Map<number, string>();
    for (const [tok, id] of this.hf.get_vocab(true)) byId.set(id, tok);
    const added = new Map<number, string>();
    for (const [id, tok] of this.hf.get_added_tokens_decoder()) added.set(id, tok.content);
    const enc = new TextEncoder();
    const parts: Uint8Array[] = [];
    const offsets = new Int32Array(this.vocabSize + 1);
    let total = 0;
    for (let id = 0; id < this.vocabSize; id++) {
      const tok = byId.get(id);
      let bytes: Uint8Array;
      if (tok === undefined) bytes = new Uint8Array(0);
      else if (added.has(id)) bytes = enc.encode(added.get(id)!);
      else if (this.byteLevel) {
        const out: number[] = [];
        for (const ch of tok) {
          const b = unicodeToByte.get(ch.codePointAt(0)!);
          if (b === undefined) out.push(...enc.encode(ch));
          else out.push(b);
        }
        bytes = Uint8Array.from(out);
      } else bytes = enc.encode(this.hf.decode([id], { skip_special_tokens: false }));
      parts.push(bytes);
      total += bytes.length;
      offsets[id + 1] = total;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    this.tokenBytesCache = { bytes: all, offsets };
    return this.tokenBytesCache;
  }

  /** Id of a token string (e.g. '<|im_end|>', '<think>'), or undefined when not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }

  /** Token string of an id, or undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.hf.id_to_token(id);
  }

  /** Whether `id` is a special added token (skipped by `decode({skipSpecialTokens: true})`). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /**
   * Renders `messages` with the checkpoint's chat template (see {@link ChatTemplate.render}); with
   * `tokenize: true` returns the ids of the rendered text.
   * @throws Error when the tokenizer has no chat template or rendering fails.
   */
  applyChatTemplate(messages: ChatMessage[], options: ApplyChatTemplateOptions & { tokenize: true }): number[];
  applyChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions): string;
  applyChatTemplate(messages: ChatMessage[], options: ApplyChatTemplateOptions = {}): string | number[] {
    if (!this.chatTemplate) throw new Error('applyChatTemplate: tokenizer_config.json has no chat_template');
    const text = this.chatTemplate.render(messages, options);
    return options.tokenize ? this.encode(text, { addSpecialTokens: false }) : text;
  }
}
