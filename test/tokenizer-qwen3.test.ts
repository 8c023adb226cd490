import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer, writeTokenizerFiles, bundledTokenizerDir, type ChatMessage } from '../src/tokenizer/index.js';

interface Fixture {
  vocab_size: number;
  eos_token_id: number;
  pad_token_id: number;
  special_tokens: Record<string, number>;
  encodings: { text: string; ids: number[]; decoded: string; decoded_skip_special: string }[];
  chats: {
    name: string;
    messages: ChatMessage[];
    options: { add_generation_prompt?: boolean; enable_thinking?: boolean };
    text: string;
    ids: number[];
  }[];
}

const fixture = JSON.parse(
  await readFile(new URL('./fixtures/tokenizer-reference.json', import.meta.url), 'utf8'),
) as Fixture;

let dir: string;
let tok: Tokenizer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtr-tok-'));
  await writeTokenizerFiles(dir);
  tok = await Tokenizer.fromDir(dir);
}, 30_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Tokenizer (Qwen3 files)', () => {
  it('exposes vocab size and special ids like transformers', () => {
    expect(tok.vocabSize).toBe(fixture.vocab_size);
    expect(tok.eosTokenId).toBe(fixture.eos_token_id);
    expect(tok.eosTokenIds).toEqual([fixture.eos_token_id]);
    expect(tok.padTokenId).toBe(fixture.pad_token_id);
    expect(tok.bosTokenId).toBeUndefined();
    for (const [s, id] of Object.entries(fixture.special_tokens)) {
      expect(tok.tokenToId(s)).toBe(id);
      expect(tok.idToToken(id)).toBe(s);
    }
    expect(tok.tokenToId('<|no such token|>')).toBeUndefined();
    expect(tok.isSpecial(fixture.eos_token_id)).toBe(true);
  });

  it('encodes to the ids Python tokenizers gives', () => {
    for (const e of fixture.encodings) {
      expect(tok.encode(e.text), JSON.stringify(e.text)).toEqual(e.ids);
      expect(tok.encode(e.text, { addSpecialTokens: false })).toEqual(e.ids);
    }
  });

  it('decodes like Python (with and without special tokens)', () => {
    for (const e of fixture.encodings) {
      expect(tok.decode(e.ids)).toBe(e.decoded);
      expect(tok.decode(Int32Array.from(e.ids), { skipSpecialTokens: true })).toBe(e.decoded_skip_special);
    }
  });

  it('round-trips varied text (unicode, LaTeX, Chinese, whitespace)', () => {
    const texts = [
      ...fixture.encodings.map((e) => e.text),
      '  \n\t \r\n  ',
      '$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$',
      '中文标点：「引号」、《书名》…—',
      '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 ∀x∈ℝ, x²≥0 ≠ ∞',
      'Zalgo: Z̷̢a̸l̶g̵o̴',
    ];
    for (const t of texts) expect(tok.decode(tok.encode(t))).toBe(t.normalize('NFC'));
  });

  it('rejects out-of-range ids in decode', () => {
    expect(() => tok.decode([tok.vocabSize])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([-1])).toThrow(/outside the vocabulary/);
    expect(() => tok.decode([1.5])).toThrow(/outside the vocabulary/);
  });
});

describe('chat template', () => {
  it('renders what transformers apply_chat_template renders', () => {
    expect(fixture.chats.length).toBeGreaterThan(10);
    for (const c of fixture.chats) {
      const opts = {
        addGenerationPrompt: c.options.add_generation_prompt,
        enableThinking: c.options.enable_thinking,
      };
      const label = `${c.name} ${JSON.stringify(c.options)}`;
      expect(tok.applyChatTemplate(c.messages, opts), label).toBe(c.text);
      expect(tok.applyChatTemplate(c.messages, { ...opts, tokenize: true }), label).toEqual(c.ids);
    }
  });

  it('emits an empty think block only when enable_thinking is false', () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: 'q' }];
    expect(tok.applyChatTemplate(msgs, { addGenerationPrompt: true, enableThinking: false })).toBe(
      '<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
    );
    expect(tok.applyChatTemplate(msgs, { addGenerationPrompt: true, enableThinking: true })).toBe(
      '<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n',
    );
    expect(tok.applyChatTemplate(msgs)).toBe('<|im_start|>user\nq<|im_end|>\n');
  });

  it('rejects empty or malformed messages', () => {
    expect(() => tok.applyChatTemplate([])).toThrow(/messages is empty/);
    expect(() => tok.applyChatTemplate([{ role: 'user' } as unknown as ChatMessage])).toThrow(/messages\[0\]/);
  });
});

describe('Tokenizer.fromDir errors and files', () => {
  it('names a missing file', async () => {
    const d = await mkdtemp(join(tmpdir(), 'gtr-tok-missing-'));
    try {
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/tokenizer\.json not found/);
      await writeFile(join(d, 'tokenizer.json'), await readFile(join(bundledTokenizerDir(), 'tokenizer.json')));
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/tokenizer_config\.json not found/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('names a malformed file', async () => {
    const d = await mkdtemp(join(tmpdir(), 'gtr-tok-bad-'));
    try {
      await writeFile(join(d, 'tokenizer.json'), '{"model": ');
      await writeFile(join(d, 'tokenizer_config.json'), '{}');
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/tokenizer\.json.*malformed tokenizer\.json/);
      await writeFile(join(d, 'tokenizer.json'), '[1,2]');
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/malformed tokenizer\.json \(expected a JSON object\)/);
      await writeFile(join(d, 'tokenizer.json'), '{"version": "1.0"}');
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/malformed tokenizer\.json \(missing "model"/);
      await writeTokenizerFiles(d);
      await writeFile(join(d, 'tokenizer_config.json'), 'not json');
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/tokenizer_config\.json.*invalid JSON/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  }, 30_000);

  it('adds generation_config.json eos ids', async () => {
    const d = await mkdtemp(join(tmpdir(), 'gtr-tok-gen-'));
    try {
      await writeTokenizerFiles(d);
      await writeFile(join(d, 'generation_config.json'), JSON.stringify({ eos_token_id: [151645, 151643] }));
      const t = await Tokenizer.fromDir(d);
      expect(t.eosTokenIds).toEqual([151645, 151643]);
      await writeFile(join(d, 'generation_config.json'), JSON.stringify({ eos_token_id: 'x' }));
      await expect(Tokenizer.fromDir(d)).rejects.toThrow(/generation_config\.json: eos_token_id/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  }, 30_000);
});
