// Qwen2 and Llama beside Qwen3 (one native model, a table of architecture differences): random tiny
// checkpoints made by transformers itself in this run (test/python/hf_arch_reference.py) load, give
// transformers' fp32 logits within 1e-4 on a packed batch, and its greedy tokens through the rollout
// engine; the parameter names are exactly transformers' (biases, no q/k norm) and the TS planner's.
// Unsupported model types, RoPE scalings and sliding windows are refused naming the field.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MODEL_TYPES,
  parseQwen3Config,
  presetConfig,
  qwen3ParameterCount,
  qwen3TensorInfo,
} from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { greedyTokens, maxAbsDiff, pack } from './helpers/parity.js';
import { repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const hf = pythonHas(['torch', 'transformers']);
if (!hf.ok) console.warn(`skipping the architecture parity tests: ${hf.why}`);
const scratch = mkdtempSync(join(tmpdir(), 'gtr-arch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Reference {
  transformers: string;
  model_type: string;
  sequences: number[][];
  vocab_size: number;
  logits: number[];
  params: string[];
  greedy: { prompts: number[][]; new_tokens: number; outputs: number[][] };
}

describe.skipIf(!hf.ok).each(['qwen2', 'llama', 'llama-bias', 'qwen3-bias'])(
  `%s checkpoint made by transformers${hf.ok ? '' : ` (skipped: ${hf.why})`}`,
  (variant) => {
    it('loads with the same parameters, logits within 1e-4 (fp32) and greedy tokens', async () => {
      const dir = join(scratch, variant);
      const ref = JSON.parse(
        execFileSync(python, [join(repoRoot, 'test', 'python', 'hf_arch_reference.py'), dir, variant], {
          encoding: 'utf8',
          timeout: 300_000,
          maxBuffer: 256 << 20,
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      ) as Reference;
      const policy = await Policy.load(dir, { device: 'cpu', dtype: 'float32' });
      try {
        expect(policy.config.modelType).toBe(ref.model_type);
        const names = policy.parameterInfo().map((p) => p.name);
        expect([...names].sort()).toEqual(
          ref.params.filter((n) => n !== 'lm_head.weight' || !policy.config.native.tieWordEmbeddings),
        );
        expect(
          qwen3TensorInfo(policy.config.native)
            .map((p) => p.name)
            .sort(),
        ).toEqual([...names].sort());
        expect(qwen3ParameterCount(policy.config.native)).toBe(policy.numParameters);

        const { tokens, seqLens } = pack(ref.sequences);
        const logits = await policy.native.forwardLogits(tokens, seqLens);
        const diff = maxAbsDiff(logits, ref.logits);
        console.log(`[${variant}] transformers ${ref.transformers}: max |logit difference| ${diff.toExponential(2)}`);
        expect(diff).toBeLessThan(1e-4);

        expect(await greedyTokens(policy, ref.greedy)).toEqual(ref.greedy.outputs);
      } finally {
        policy.dispose();
      }
    }, 300_000);
  },
);

describe('architecture table', () => {
  const base = presetConfig('tiny-llama');

  it('maps each model_type to its switches', () => {
    expect(MODEL_TYPES).toEqual(['qwen3', 'qwen2', 'llama']);
    const q3 = parseQwen3Config(presetConfig('tiny')).native;
    expect([q3.qkNorm, q3.qkvBias, q3.oBias, q3.mlpBias, q3.ropeScaling]).toEqual([
      true,
      false,
      false,
      false,
      undefined,
    ]);
    const q2 = parseQwen3Config(presetConfig('tiny-qwen2')).native;
    expect([q2.qkNorm, q2.qkvBias, q2.oBias, q2.mlpBias, q2.ropeTheta]).toEqual([false, true, false, false, 10000]);
    const ll = parseQwen3Config(base).native;
    expect([ll.qkNorm, ll.qkvBias, ll.oBias, ll.mlpBias, ll.ropeTheta]).toEqual([false, false, false, false, 500000]);
    expect(ll.ropeScaling).toEqual({
      type: 'llama3',
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    const lb = parseQwen3Config({ ...base, attention_bias: true, mlp_bias: true }).native;
    expect([lb.qkvBias, lb.oBias, lb.mlpBias]).toEqual([true, true, true]);
  });

  it('presets of the published shapes count their parameters as published', () => {
    // Qwen2.5-Math-1.5B: 1.54e9; Llama-3.2-1B: 1.24e9; Qwen3-8B: 8.19e9 (model cards).
    expect(qwen3ParameterCount(parseQwen3Config(presetConfig('qwen2.5-math-1.5b')).native)).toBe(1_543_714_304);
    expect(qwen3ParameterCount(parseQwen3Config(presetConfig('llama-3.2-1b')).native)).toBe(1_235_814_400);
    expect(qwen3ParameterCount(parseQwen3Config(presetConfig('qwen3-8b')).native)).toBe(8_190_735_360);
  });

  it.each([
    [
      { ...base, model_type: 'mistral' },
      /field model_type: "mistral" is not supported \(supported: qwen3, qwen2, llama\)/,
    ],
    [{ ...base, model_type: undefined }, /field model_type: missing \(supported: qwen3, qwen2, llama\)/],
    [
      { ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } },
      /field rope_scaling.rope_type: RoPE scaling "yarn" is not supported for model_type llama \(supported: default, llama3\)/,
    ],
    [
      { ...presetConfig('tiny'), rope_parameters: { rope_type: 'llama3', rope_theta: 1e6 } },
      /field rope_parameters.rope_type: RoPE scaling "llama3" is not supported for model_type qwen3 \(supported: default\)/,
    ],
    [
      { ...base, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /field rope_scaling.low_freq_factor: must be a positive number/,
    ],
    [
      { ...presetConfig('tiny-qwen2'), use_sliding_window: true },
      /field use_sliding_window: sliding-window attention is not supported/,
    ],
    [
      { ...presetConfig('tiny-qwen2'), layer_types: ['full_attention', 'sliding_attention'] },
      /field layer_types.\[1\]: only full_attention layers are supported/,
    ],
    [{ ...base, hidden_act: 'gelu' }, /field hidden_act: only silu/],
  ])('refuses %j', (cfg, message) => {
    expect(() => parseQwen3Config(cfg, 'x/config.json')).toThrow(message);
  });
});
