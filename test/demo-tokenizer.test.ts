// The demo's small tokenizer: written in the HF format, loaded by Tokenizer.fromDir through
// @huggingface/tokenizers, exact encode/decode round trips of the task's prompts and responses,
// single-digit tokens, special tokens and the EOS id.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPrompt } from '../src/data/templates.js';
import { generateTask } from '../src/demo/task.js';
import { demoVocabSize, writeDemoTokenizer } from '../src/demo/tokenizer.js';
import { Tokenizer } from '../src/tokenizer/index.js';

let dir: string;
let tok: Tokenizer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtr-demo-tok-'));
  writeDemoTokenizer(dir);
  tok = await Tokenizer.fromDir(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('demo tokenizer', () => {
  it('loads with the expected vocabulary, EOS and pad', () => {
    expect(tok.vocabSize).toBe(demoVocabSize());
    expect(tok.vocabSize).toBeLessThan(256);
    expect(tok.eosTokenId).toBe(tok.tokenToId('<|endoftext|>'));
    expect(tok.padTokenId).toBe(tok.eosTokenId);
    expect(tok.eosTokenIds).toEqual([tok.eosTokenId]);
    for (const s of ['<|endoftext|>', '<|im_start|>', '<|im_end|>'])
      expect(tok.isSpecial(tok.tokenToId(s)!)).toBe(true);
  });

  it('round-trips the task text exactly (prompt as the loop renders it + worked response)', () => {
    const { train, heldOut } = generateTask({ train: 200, heldOut: 50, seed: 0 });
    for (const p of [...train, ...heldOut]) {
      const prompt = (buildPrompt('dapo', p.problem, { chat: false }) as { text: string }).text;
      for (const text of [prompt, p.solution, prompt + p.solution]) {
        const ids = tok.encode(text, { addSpecialTokens: false });
        expect(tok.decode(ids)).toBe(text);
      }
    }
  });

  it('keeps digits single tokens and template words whole', () => {
    const ids = tok.encode('What is 407 + 18?', { addSpecialTokens: false });
    expect(ids.map((i) => tok.idToToken(i))).toEqual(['What', ' is', ' ', '4', '0', '7', ' ', '+', ' ', '1', '8', '?']);
    const prompt = (buildPrompt('dapo', 'What is 1 + 2?', { chat: false }) as { text: string }).text;
    expect(tok.encode(prompt, { addSpecialTokens: false }).length).toBeLessThan(80);
    // The demo's prompts (plain template) and responses: one token per character, "Answer:" whole.
    const demo = (buildPrompt('plain', '47+38=', { chat: false }) as { text: string }).text;
    expect(tok.encode(demo, { addSpecialTokens: false }).map((i) => tok.idToToken(i))).toEqual([
      '4',
      '7',
      '+',
      '3',
      '8',
      '=',
    ]);
    expect(tok.encode('Answer: 85', { addSpecialTokens: false }).map((i) => tok.idToToken(i))).toEqual([
      'Answer:',
      ' ',
      '8',
      '5',
    ]);
  });

  it('round-trips arbitrary printable ASCII and maps special-token text to its id', () => {
    const text = 'Zebra qux! ~{x_1}^2 = $3.50 \\ "quoted"\n\tend';
    expect(tok.decode(tok.encode(text.replace('\t', ' ')))).toBe(text.replace('\t', ' '));
    const ids = tok.encode('Answer: 5<|endoftext|>', { addSpecialTokens: false });
    expect(ids[ids.length - 1]).toBe(tok.eosTokenId);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('Answer: 5');
  });
});
