/**
 * Tokenizer.tokenBytes(): the bytes each token id stands for, which the rollout engine concatenates
 * to match stop strings. For any text, the concatenated bytes of its token ids must be exactly the
 * text's UTF-8 bytes (Qwen3's byte-level BPE, including tokens that split a multi-byte character,
 * and added special tokens), and the demo tokenizer's ASCII tokens likewise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDemoTokenizer } from '../src/demo/tokenizer.js';
import { Tokenizer, bundledTokenizerDir } from '../src/tokenizer/index.js';

function concat(tb: { bytes: Uint8Array; offsets: Int32Array }, ids: number[]): Buffer {
  return Buffer.concat(ids.map((i) => Buffer.from(tb.bytes.subarray(tb.offsets[i]!, tb.offsets[i + 1]!))));
}

describe('Tokenizer.tokenBytes', () => {
  it('Qwen3: token bytes concatenate to the UTF-8 of the text', async () => {
    const tok = await Tokenizer.fromDir(bundledTokenizerDir());
    const tb = tok.tokenBytes();
    expect(tb.offsets.length).toBe(tok.vocabSize + 1);
    for (const text of [
      'Answer: 42\n',
      ' \\boxed{\\frac{1}{2}}',
      'é à ü',
      '数学题 🙂 x²',
      '<|im_end|>\n<think>\n\n</think>',
      '\t  spaces  ',
    ]) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(concat(tb, ids).equals(Buffer.from(text, 'utf8')), text).toBe(true);
    }
  });
  it('demo tokenizer: ASCII tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gtr-tb-'));
    try {
      writeDemoTokenizer(dir);
      const tok = await Tokenizer.fromDir(dir);
      const text = '47+38=\nAnswer: 85';
      expect(concat(tok.tokenBytes(), tok.encode(text, { addSpecialTokens: false })).toString('utf8')).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
