/**
 * Model config.json (Qwen3, Qwen2 / Qwen2.5, Llama 3): validation (zod), mapping to the native model's
 * config through one table of architecture differences, and presets written as full Hugging Face
 * config.json content (loadable by transformers' Qwen3ForCausalLM / Qwen2ForCausalLM / LlamaForCausalLM).
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

/**
 * The architectures the native model runs, and how they differ (native/model/qwen3.h: the
 * switches). `attention_bias` / `mlp_bias` are the config.json fields; where an architecture's
 * transformers class ignores a field, so does this table.
 */
export const ARCHITECTURES = {
  qwen3: {
    hfClass: 'Qwen3ForCausalLM',
    qkNorm: true,
    qkvBias: (hf: { attention_bias?: boolean }) => hf.attention_bias === true,
    oBias: (hf: { attention_bias?: boolean }) => hf.attention_bias === true,
    mlpBias: (_hf: { mlp_bias?: boolean }) => false,
    ropeTypes: ['default'],
    defaultRopeTheta: 10000,
  },
  qwen2: {
    hfClass: 'Qwen2ForCausalLM',
    qkNorm: false,
    qkvBias: (_hf: { attention_bias?: boolean }) => true,
    oBias: (_hf: { attention_bias?: boolean }) => false,
    mlpBias: (_hf: { mlp_bias?: boolean }) => false,
    ropeTypes: ['default'],
    defaultRopeTheta: 10000,
  },
  llama: {
    hfClass: 'LlamaForCausalLM',
    qkNorm: false,
    qkvBias: (hf: { attention_bias?: boolean }) => hf.attention_bias === true,
    oBias: (hf: { attention_bias?: boolean }) => hf.attention_bias === true,
    mlpBias: (hf: { mlp_bias?: boolean }) => hf.mlp_bias === true,
    ropeTypes: ['default', 'llama3'],
    defaultRopeTheta: 10000,
  },
} as const;

/** A `model_type` the native model runs. */
export type ModelType = keyof typeof ARCHITECTURES;
/** The supported `model_type` values, in the order errors list them. */
export const MODEL_TYPES = Object.keys(ARCHITECTURES) as ModelType[];

/** The fields of an HF config.json this project reads; other keys pass through untouched. */
export const qwen3ConfigSchema = z.looseObject({
  model_type: z.enum(MODEL_TYPES as [ModelType, ...ModelType[]]),
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
  rope_scaling: z.looseObject({}).nullable().optional(),
  rope_parameters: z
    .looseObject({ rope_type: z.string().optional(), rope_theta: z.number().positive().optional() })
    .nullable()
    .optional(),
  tie_word_embeddings: z.boolean().default(false),
  max_position_embeddings: posInt.default(32768),
  torch_dtype: z.enum(['float32', 'bfloat16', 'float16']).nullable().optional(),
  dtype: z.enum(['float32', 'bfloat16', 'float16']).nullable().optional(),
  hidden_act: z.literal('silu', 'only silu (SwiGLU) is supported').optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  use_sliding_window: z.literal(false, 'sliding-window attention is not supported; it must be false').optional(),
  layer_types: z.array(z.literal('full_attention', 'only full_attention layers are supported')).optional(),
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
  /** The architecture (config.json `model_type`). */
  modelType: ModelType;
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
    const mt = (value as Record<string, unknown>).model_type;
    if (typeof mt !== 'string' || !(mt in ARCHITECTURES)) {
      throw new Error(
        `${source}: field model_type: ${mt === undefined ? 'missing' : `"${String(mt)}" is not supported`} (supported: ${MODEL_TYPES.join(', ')})`,
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
  const arch = ARCHITECTURES[hf.model_type];
  const rope = readRope(hf, arch.ropeTypes, source);
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
  const ropeTheta = hf.rope_theta ?? hf.rope_parameters?.rope_theta ?? arch.defaultRopeTheta;
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
    qkNorm: arch.qkNorm,
    qkvBias: arch.qkvBias(hf),
    oBias: arch.oBias(hf),
    mlpBias: arch.mlpBias(hf),
    ...(rope ? { ropeScaling: rope } : {}),
  };
  return { hf, native, modelType: hf.model_type, dtype: hf.dtype ?? hf.torch_dtype ?? undefined };
}

/**
 * The RoPE scaling of a config: `rope_scaling` (transformers 4 and the hub's Llama 3 configs; type in
 * `rope_type` or `type`) or `rope_parameters` (transformers 5). Undefined for the default rope.
 * @throws Error naming the field and the supported types for a type this architecture lacks, or a
 *   missing / non-numeric llama3 parameter.
 */
function readRope(
  hf: Qwen3HfConfig,
  supported: readonly string[],
  source: string,
): NativeQwen3Config['ropeScaling'] | undefined {
  const field = hf.rope_scaling ? 'rope_scaling' : 'rope_parameters';
  const r = (hf.rope_scaling ?? hf.rope_parameters ?? undefined) as Record<string, unknown> | undefined;
  if (!r) return undefined;
  const type = String(r.rope_type ?? r.type ?? 'default');
  if (!supported.includes(type)) {
    throw new Error(
      `${source}: field ${field}.rope_type: RoPE scaling "${type}" is not supported for model_type ${hf.model_type} (supported: ${supported.join(', ')})`,
    );
  }
  if (type === 'default') return undefined;
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw new Error(`${source}: field ${field}.${key}: must be a positive number for rope_type ${type}`);
    return v;
  };
  const lowFreqFactor = num('low_freq_factor');
  const highFreqFactor = num('high_freq_factor');
  if (!(highFreqFactor > lowFreqFactor))
    throw new Error(`${source}: field ${field}.high_freq_factor: must exceed low_freq_factor`);
  return {
    type: 'llama3',
    factor: num('factor'),
    lowFreqFactor,
    highFreqFactor,
    originalMaxPositionEmbeddings: num('original_max_position_embeddings'),
  };
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
export type Qwen3PresetName =
  | 'qwen3-1.7b'
  | 'qwen3-1.7b-base'
  | 'qwen3-4b'
  | 'qwen3-8b'
  | 'tiny'
  | 'qwen2.5-math-1.5b'
  | 'tiny-qwen2'
  | 'llama-3.2-1b'
  | 'tiny-llama';
export const QWEN3_PRESETS: readonly Qwen3PresetName[] = [
  'qwen3-1.7b',
  'qwen3-1.7b-base',
  'qwen3-4b',
  'qwen3-8b',
  'tiny',
  'qwen2.5-math-1.5b',
  'tiny-qwen2',
  'llama-3.2-1b',
  'tiny-llama',
];

/** The published Qwen/Qwen2.5-Math-1.5B config.json (a qwen2 model: q/k/v biases, no q/k norm). */
const QWEN25_MATH_15B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 1536,
  initializer_range: 0.02,
  intermediate_size: 8960,
  max_position_embeddings: 4096,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 12,
  num_hidden_layers: 28,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  sliding_window: 4096,
  tie_word_embeddings: true,
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
  transformers_version: '4.37.0',
};

/**
 * The published meta-llama/Llama-3.2-1B config.json (llama3 RoPE scaling, tied embeddings). Its
 * vocabulary is Llama 3's (128256): `init-model` ships the bundled Qwen3 tokenizer, so a checkpoint
 * from this preset needs Llama 3's tokenizer files beside it (or `model.tokenizer`) before it runs.
 */
const LLAMA_32_1B = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 32.0,
    high_freq_factor: 4.0,
    low_freq_factor: 1.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  use_cache: true,
  vocab_size: 128256,
  transformers_version: '4.45.0',
};

/** The tiny test shape (2 layers, hidden 64, 4 heads of 16, 2 KV heads) on the Qwen3 vocabulary. */
const TINY_SHAPE = {
  head_dim: 16,
  hidden_size: 64,
  intermediate_size: 128,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 2,
  vocab_size: 151936,
};

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
 * Full HF config.json content of a preset. `qwen3-1.7b` / `qwen3-1.7b-base` / `qwen3-4b` / `qwen3-8b`
 * are the published Qwen/Qwen3-1.7B(-Base) / Qwen3-4B / Qwen3-8B configs (eos 151645 `<|im_end|>` / 151643
 * `<|endoftext|>`); `qwen2.5-math-1.5b` and `llama-3.2-1b` the published Qwen2.5-Math-1.5B and
 * Llama-3.2-1B ones; `tiny`, `tiny-qwen2` and `tiny-llama` are 2-layer, hidden-64 models of each
 * architecture on the real Qwen3 vocabulary (151936 rows, tied) for CPU tests.
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
    case 'qwen3-4b':
      // The published Qwen/Qwen3-4B config.json: 36 layers, GQA 32/8, tied embeddings (unlike 8B).
      return {
        ...COMMON,
        eos_token_id: 151645,
        head_dim: 128,
        hidden_size: 2560,
        intermediate_size: 9728,
        max_position_embeddings: 40960,
        max_window_layers: 36,
        num_attention_heads: 32,
        num_hidden_layers: 36,
        num_key_value_heads: 8,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        tie_word_embeddings: true,
        torch_dtype: dtype ?? 'bfloat16',
      };
    case 'qwen3-8b':
      // The published Qwen/Qwen3-8B config.json (untied lm_head).
      return {
        ...COMMON,
        eos_token_id: 151645,
        head_dim: 128,
        hidden_size: 4096,
        intermediate_size: 12288,
        max_position_embeddings: 40960,
        max_window_layers: 36,
        num_attention_heads: 32,
        num_hidden_layers: 36,
        num_key_value_heads: 8,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        tie_word_embeddings: false,
        torch_dtype: dtype ?? 'bfloat16',
      };
    case 'qwen2.5-math-1.5b':
      return { ...QWEN25_MATH_15B, torch_dtype: dtype ?? 'bfloat16' };
    case 'tiny-qwen2':
      // Qwen2.5-Math-1.5B's architecture in the tiny shape; eos <|im_end|> as the tiny Qwen3's.
      return {
        ...QWEN25_MATH_15B,
        ...TINY_SHAPE,
        eos_token_id: 151645,
        max_window_layers: 2,
        torch_dtype: dtype ?? 'float32',
      };
    case 'llama-3.2-1b':
      return { ...LLAMA_32_1B, torch_dtype: dtype ?? 'bfloat16' };
    case 'tiny-llama':
      // Llama 3.2's architecture (llama3 RoPE scaling, tied) in the tiny shape on the Qwen3
      // vocabulary and special tokens, so the bundled tokenizer fits it.
      return {
        ...LLAMA_32_1B,
        ...TINY_SHAPE,
        bos_token_id: 151643,
        eos_token_id: 151645,
        torch_dtype: dtype ?? 'float32',
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
