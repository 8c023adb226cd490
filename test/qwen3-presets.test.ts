// The Qwen3-4B and Qwen3-8B presets (the published config.json values) against transformers: each
// preset narrowed in width only (hidden 2560 -> 80 and 4096 -> 128, intermediate / 32, vocabulary
// 512) and kept in depth and attention layout (36 layers, GQA 32 query / 8 KV heads of head_dim
// 128, rope_theta 1e6, 4B tied and 8B untied embeddings). transformers builds a random checkpoint
// from that config.json in this run (test/python/hf_arch_reference.py `config`); the native model
// loads it and gives its fp32 logits and greedy tokens.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseQwen3Config, presetConfig, qwen3ParameterCount } from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { greedyTokens, maxAbsDiff, pack } from './helpers/parity.js';
import { repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const hf = pythonHas(['torch', 'transformers']);
if (!hf.ok) console.warn(`skipping the Qwen3-4B / 8B shape parity tests: ${hf.why}`);
const scratch = mkdtempSync(join(tmpdir(), 'gtr-q3presets-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the published shapes', () => {
  it('qwen3-4b: hidden 2560, intermediate 9728, 36 layers, 32 / 8 heads of 128, tied; qwen3-8b: 4096, 12288, untied', () => {
    const q4 = parseQwen3Config(presetConfig('qwen3-4b')).native;
    const q8 = parseQwen3Config(presetConfig('qwen3-8b')).native;
    for (const [c, H, I, tied] of [
      [q4, 2560, 9728, true],
      [q8, 4096, 12288, false],
    ] as const) {
      expect(c).toMatchObject({
        hiddenSize: H,
        intermediateSize: I,
        numHiddenLayers: 36,
        numAttentionHeads: 32,
        numKeyValueHeads: 8,
        headDim: 128,
        vocabSize: 151936,
        ropeTheta: 1e6,
        rmsNormEps: 1e-6,
        tieWordEmbeddings: tied,
        maxPositionEmbeddings: 40960,
      });
    }
    // Qwen's model cards: 4.0B and 8.2B parameters.
    expect(qwen3ParameterCount(q4)).toBe(4_022_468_096);
    expect(qwen3ParameterCount(q8)).toBe(8_190_735_360);
  });
});

describe.skipIf(!hf.ok).each([
  ['qwen3-4b', 80, 304],
  ['qwen3-8b', 128, 384],
] as const)(`%s narrowed in width, checkpoint made by transformers${hf.ok ? '' : ' (skipped)'}`, (name, H, I) => {
  it('loads and gives transformers fp32 logits and greedy tokens', async () => {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    const config = {
      ...presetConfig(name, 'float32'),
      hidden_size: H,
      intermediate_size: I,
      vocab_size: 512,
      bos_token_id: 1,
      eos_token_id: 2,
      pad_token_id: 0,
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const ref = JSON.parse(
      execFileSync(python, [join(repoRoot, 'test', 'python', 'hf_arch_reference.py'), dir, 'config'], {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 256 << 20,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as {
      transformers: string;
      sequences: number[][];
      logits: number[];
      params: string[];
      greedy: { prompts: number[][]; new_tokens: number; outputs: number[][] };
    };
    const policy = await Policy.load(dir, { device: 'cpu', dtype: 'float32' });
    try {
      const c = policy.config.native;
      expect(c).toMatchObject({ numHiddenLayers: 36, numAttentionHeads: 32, numKeyValueHeads: 8, headDim: 128 });
      expect(c.tieWordEmbeddings).toBe(name === 'qwen3-4b');
      expect(ref.params.includes('lm_head.weight')).toBe(true);
      expect(policy.parameterInfo().some((p) => p.name === 'lm_head.weight')).toBe(name === 'qwen3-8b');
      expect(policy.numParameters).toBe(qwen3ParameterCount(c));
      const { tokens, seqLens } = pack(ref.sequences);
      const logits = await policy.native.forwardLogits(tokens, seqLens);
      let scale = 0;
      for (const x of ref.logits) scale = Math.max(scale, Math.abs(x));
      const diff = maxAbsDiff(logits, ref.logits);
      console.log(
        `[${name} narrowed] transformers ${ref.transformers}: max |logit difference| ${diff.toExponential(2)} (max |logit| ${scale.toFixed(1)})`,
      );
      expect(diff).toBeLessThan(1e-4 * Math.max(1, scale));
      expect(await greedyTokens(policy, ref.greedy)).toEqual(ref.greedy.outputs);
    } finally {
      policy.dispose();
    }
  }, 300_000);
});
