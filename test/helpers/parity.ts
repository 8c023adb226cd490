/** Reads the transformers reference stored beside each parity checkpoint (see make_parity_fixture.py). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parityDir } from './paths.js';
import type { Policy } from '../../src/policy.js';
import { generate } from '../../src/rollout/index.js';

export interface ParityReference {
  transformers: string;
  sequences: number[][];
  vocab_size: number;
  logits_shape: [number, number];
  greedy: { prompts: number[][]; new_tokens: number; outputs: number[][] };
  /** transformers' fp32 logits, row-major [sum of sequence lengths, vocab]. */
  logits: Float32Array;
}

export function parityReference(name: 'tied' | 'untied'): ParityReference {
  const dir = parityDir(name);
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  const buf = readFileSync(join(dir, ref.logits_file));
  const logits = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  return { ...ref, logits };
}

/** Flattens sequences into the packed (tokens, seqLens) form the native calls take. */
export function pack(seqs: number[][]): { tokens: Int32Array; seqLens: Int32Array } {
  return { tokens: Int32Array.from(seqs.flat()), seqLens: Int32Array.from(seqs.map((s) => s.length)) };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * The engine's greedy continuation (temperature 0, `greedy.new_tokens` new tokens) of each of a
 * reference's prompts, as plain arrays to compare with transformers' `greedy.outputs`.
 */
export async function greedyTokens(
  policy: Policy,
  greedy: { prompts: number[][]; new_tokens: number },
): Promise<number[][]> {
  const res = await generate(policy, greedy.prompts, { temperature: 0, maxNewTokens: greedy.new_tokens });
  return greedy.prompts.map((_, i) => Array.from(res[i]![0]!.tokens));
}
