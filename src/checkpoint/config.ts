/**
 * Qwen3 config.json: validation (zod), mapping to the native model's config, and presets written as
 * full Hugging Face config.json content (loadable by transformers' Qwen3ForCausalLM).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { DType, NativeQwen3Config } from '../native/types.js';
import { writeFileAtomic } from './save.js';

const posInt = z.number().int().positive();
const tokenIds = z
  .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())])
  .nullable()
  .optional();

/** The fields of an HF Qwen3 config.json this project reads; other keys pass through untouched. */
export const qwen3ConfigSchema = z.looseObject({
  model_type: z.literal('qwen3'),
  architectures: z.array(z.string()).optional(),
  vocab_size: posInt.max(2 ** 31 - 1, 'must be below 2^31 (token ids are int32)'),
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt,
  head_dim: posInt.nullable().optional(),
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: z.null().optional(),
  rope_parameters: z
    .looseObject({ rope_type: z.string().optional(), rope_theta: z.number().positive().optional() })
    .nullable()
    .optional(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: posInt.default(32768),
  torch_dtype: z.enum(['float32', 'bfloat16', 'float16']).nullable().optional(),
  dtype: z.enum(['float32', 'bfloat16', 'float16']).nullable().optional(),
  hidden_act: z.literal('silu').optional(),
  attention_bias: z.literal(false).optional(),
  use_sliding_window: z.literal(false).optional(),
  layer_types: z.array(z.literal('full_attention')).optional(),
  bos_token_id: tokenIds,
  eos_token_id: tokenIds,
  pad_token_id: tokenIds,
});

/** A validated Qwen3 config.json (defaults filled, unknown keys kept). */
export type Qwen3HfConfig = z.infer<typeof qwen3ConfigSchema>;

/** What {@link parseQwen3Config} returns. */
export interface Qwen3Config {
  /** The config.json content (defaults filled in). */
  hf: Qwen3HfConfig;
  /** The native model's hyper-parameters. */
  native: NativeQwen3Config;
  /** Stored dtype (`dtype` or `torch_dtype`), when given. */
  dtype: 'float32' | 'bfloat16' | 'float16' | undefined;
}

function issuePath(path: PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
}

/**
 * Validates a parsed config.json as a Qwen3 config and maps it to {@link NativeQwen3Config}.
 * `head_dim` defaults to hidden_size / num_attention_heads; `rope_theta` is read from `rope_theta` or
 * (transformers >= 5) `rope_parameters.rope_theta`, default 10000.
 * @param source the file name used in errors (e.g. '/ckpt/config.json')
 * @throws Error `${source}: field <path>: <problem>` for a wrong or missing field; a refusal naming
 *   `rope_scaling` / `rope_parameters.rope_type` when RoPE scaling is configured; an error when
 *   num_attention_heads is not a multiple of num_key_value_heads or head_dim has no default.
 */
export function parseQwen3Config(value: unknown, source = 'config.json'): Qwen3Config {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (v.rope_scaling !== undefined && v.rope_scaling !== null) {
      throw new Error(
        `${source}: field rope_scaling: RoPE scaling (${JSON.stringify(v.rope_scaling)}) is not supported; it must be null or absent`,
      );
    }
    const rp = v.rope_parameters as Record<string, unknown> | null | undefined;
    if (rp && typeof rp === 'object' && rp.rope_type !== undefined && rp.rope_type !== 'default') {
      throw new Error(
        `${source}: field rope_parameters.rope_type: RoPE scaling "${String(rp.rope_type)}" is not supported; only "default"`,
      );
    }
  }
  const parsed = qwen3ConfigSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    const more = parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more issue(s))` : '';
    throw new Error(`${source}: field ${issuePath(first.path)}: ${first.message}${more}`);
  }
  const hf = parsed.data;
  let headDim = hf.head_dim ?? undefined;
  if (headDim === undefined) {
    if (hf.hidden_size % hf.num_attention_heads !== 0) {
      throw new Error(
        `${source}: field head_dim: absent, and hidden_size ${hf.hidden_size} is not a multiple of num_attention_heads ${hf.num_attention_heads}`,
      );
    }
    headDim = hf.hidden_size / hf.num_attention_heads;
  }
  if (hf.num_attention_heads % hf.num_key_value_heads !== 0) {
    throw new Error(
      `${source}: field num_key_value_heads: ${hf.num_key_value_heads} does not divide num_attention_heads ${hf.num_attention_heads}`,
    );
  }
  const ropeTheta = hf.rope_theta ?? hf.rope_parameters?.rope_theta ?? 10000;
  const native: NativeQwen3Config = {
    vocabSize: hf.vocab_size,
    hiddenSize: hf.hidden_size,
    intermediateSize: hf.intermediate_size,
    numHiddenLayers: hf.num_hidden_layers,
    numAttentionHeads: hf.num_attention_heads,
    numKeyValueHeads: hf.num_key_value_heads,
    headDim,
    rmsNormEps: hf.rms_norm_eps,
    ropeTheta,
    tieWordEmbeddings: hf.tie_word_embeddings,
    maxPositionEmbeddings: hf.max_position_embeddings,
  };
  return { hf, native, dtype: hf.dtype ?? hf.torch_dtype ?? undefined };
}

/**
 * Reads and validates `dir/config.json`.
 * @throws Error naming config.json when missing, not JSON, or invalid (see {@link parseQwen3Config}).
 */
export async function readQwen3Config(dir: string): Promise<Qwen3Config> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `config.json not found: ${path}` : `cannot read ${path}: ${(e as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
  return parseQwen3Config(json, path);
}

/** Names of the built-in presets. */
export type Qwen3PresetName = 'qwen3-1.7b' | 'qwen3-1.7b-base' | 'tiny';
export const QWEN3_PRESETS: readonly Qwen3PresetName[] = ['qwen3-1.7b', 'qwen3-1.7b-base', 'tiny'];

const COMMON = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  hidden_act: 'silu',
  initializer_range: 0.02,
  model_type: 'qwen3',
  rope_scaling: null,
  sliding_window: null,
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
  transformers_version: '4.51.0',
};

/**
 * Full HF config.json content of a preset. `qwen3-1.7b` / `qwen3-1.7b-base` are the published
 * Qwen/Qwen3-1.7B(-Base) configs (eos 151645 `<|im_end|>` / 151643 `<|endoftext|>`); `tiny` is a
 * 2-layer, hidden-64 model on the real Qwen3 vocabulary (151936 rows, tied) for CPU tests.
 * @param dtype value written as `torch_dtype` (default bfloat16 for the real presets, float32 for tiny)
 * @throws Error for an unknown preset name.
 */
export function presetConfig(name: Qwen3PresetName, dtype?: 'float32' | 'bfloat16'): Record<string, unknown> {
  switch (name) {
    case 'qwen3-1.7b':
    case 'qwen3-1.7b-base':
      return {
        ...COMMON,
        eos_token_id: name === 'qwen3-1.7b' ? 151645 : 151643,
        head_dim: 128,
        hidden_size: 2048,
        intermediate_size: 6144,
        max_position_embeddings: name === 'qwen3-1.7b' ? 40960 : 32768,
        max_window_layers: 28,
        num_attention_heads: 16,
        num_hidden_layers: 28,
        num_key_value_heads: 8,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        tie_word_embeddings: true,
        torch_dtype: dtype ?? 'bfloat16',
      };
    case 'tiny':
      return {
        ...COMMON,
        eos_token_id: 151645,
        head_dim: 16,
        hidden_size: 64,
        intermediate_size: 128,
        max_position_embeddings: 4096,
        max_window_layers: 2,
        num_attention_heads: 4,
        num_hidden_layers: 2,
        num_key_value_heads: 2,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        tie_word_embeddings: true,
        torch_dtype: dtype ?? 'float32',
      };
    default:
      throw new Error(`unknown model preset "${String(name)}" (known: ${QWEN3_PRESETS.join(', ')})`);
  }
}

/**
 * generation_config.json content matching a config (bos/eos ids; the chat model also stops at
 * `<|endoftext|>`), as HF ships it for Qwen3.
 */
export function generationConfigFor(hf: Record<string, unknown>): Record<string, unknown> {
  const eos = hf.eos_token_id;
  const list = Array.isArray(eos)
    ? eos
    : eos === 151645
      ? [151645, 151643]
      : eos === undefined || eos === null
        ? []
        : [eos];
  return {
    bos_token_id: hf.bos_token_id ?? null,
    eos_token_id: list,
    transformers_version: hf.transformers_version ?? '4.51.0',
  };
}

/**
 * Writes `config` (validated first) as `dir/config.json`, 2-space indented, atomically.
 * @throws Error when the config does not validate (see {@link parseQwen3Config}) or the write fails.
 */
export async function writeConfigJson(dir: string, config: Record<string, unknown>): Promise<void> {
  const path = join(dir, 'config.json');
  parseQwen3Config(config, path);
  await writeFileAtomic(path, `${JSON.stringify(config, null, 2)}\n`);
}

/** The native dtype for a stored dtype: float32 stays float32, bf16/f16 load as bfloat16. */
export function nativeDTypeOf(stored: Qwen3Config['dtype']): DType {
  return stored === 'float32' ? 'float32' : 'bfloat16';
}
