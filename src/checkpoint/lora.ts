/**
 * LoRA adapters in PEFT's layout: `adapter_config.json` (peft.LoraConfig fields) and
 * `adapter_model.safetensors` with tensors `base_model.model.<module>.lora_A.weight` [r, in] and
 * `.lora_B.weight` [out, r] (PEFT's names: the native names with the `base_model.model.` prefix).
 * A trained policy's checkpoint keeps its frozen base in the HF layout and the adapters in the
 * `adapter/` subdirectory, which `PeftModel.from_pretrained(base, "<dir>/adapter")` loads.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { NativeQwen3Config, TensorInfo, TensorSource } from '../native/types.js';
import { parseSafetensorsHeader, toTensorSource } from './safetensors.js';

/** The projections LoRA can target, by PEFT module name. */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** LoRA settings, in PEFT's names (recipe `model.lora`). */
export interface LoraSpec {
  /** Rank. */
  r: number;
  /** Scaling numerator: the update is alpha / r * B A. */
  alpha: number;
  /** Dropout on the adapter input during training. */
  dropout: number;
  /** Targeted projections (PEFT module names). */
  target_modules: string[];
}

/** The subdirectory of a checkpoint holding its adapters. */
export const ADAPTER_SUBDIR = 'adapter';
/** PEFT's prefix of adapter tensor names. */
export const PEFT_PREFIX = 'base_model.model.';

const adapterConfigSchema = z.looseObject({
  peft_type: z.literal('LORA', 'only LoRA adapters are supported'),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1).default(0),
  target_modules: z.union([z.array(z.enum(LORA_TARGETS)), z.enum([...LORA_TARGETS, 'all-linear'])]),
  bias: z.literal('none', 'only bias "none" is supported').default('none'),
  use_rslora: z.literal(false, 'rsLoRA is not supported').optional(),
  use_dora: z.literal(false, 'DoRA is not supported').optional(),
  fan_in_fan_out: z.literal(false).optional(),
  lora_bias: z.literal(false, 'lora_bias is not supported').optional(),
  exclude_modules: z.null('exclude_modules is not supported').optional(),
  layer_replication: z.null('layer_replication is not supported').optional(),
  target_parameters: z.null('target_parameters is not supported').optional(),
  modules_to_save: z.null('modules_to_save is not supported').optional(),
  layers_to_transform: z.null('layers_to_transform is not supported').optional(),
  rank_pattern: z.record(z.string(), z.never(), 'rank_pattern is not supported').optional(),
  alpha_pattern: z.record(z.string(), z.never(), 'alpha_pattern is not supported').optional(),
});

/**
 * Reads `dir/adapter_config.json` (PEFT LoRA) as a {@link LoraSpec}.
 * @throws Error `<file>: field <name>: <problem>` for anything this engine cannot apply as PEFT
 *   would (DoRA, rsLoRA, biases, per-layer ranks, modules_to_save, unknown target modules).
 */
export async function readAdapterConfig(dir: string): Promise<LoraSpec> {
  const file = join(dir, 'adapter_config.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const parsed = adapterConfigSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`${file}: field ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  const c = parsed.data;
  // "all-linear" (PEFT / TRL): every projection of the decoder layers (lm_head excluded).
  const targets = Array.isArray(c.target_modules)
    ? c.target_modules
    : c.target_modules === 'all-linear'
      ? LORA_TARGETS
      : [c.target_modules];
  return { r: c.r, alpha: c.lora_alpha, dropout: c.lora_dropout, target_modules: [...targets] };
}

/** adapter_config.json content for a spec, as peft 0.17+ writes it for a causal LM. */
export function adapterConfigJson(spec: LoraSpec, baseModel: string | null): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: spec.r,
    lora_alpha: spec.alpha,
    lora_dropout: spec.dropout,
    target_modules: [...spec.target_modules].sort(),
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    use_rslora: false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    revision: null,
  };
}

/** True when `dir` holds a PEFT adapter (adapter_config.json). */
export function isAdapterDir(dir: string): boolean {
  return existsSync(join(dir, 'adapter_config.json'));
}

/**
 * Where each expected adapter tensor lies in `dir/adapter_model.safetensors` (PEFT names mapped to
 * the native names), checked against the model's adapters.
 * @throws Error naming the file and the missing / unexpected / mis-shaped tensors.
 */
export async function planAdapterLoad(dir: string, expected: TensorInfo[]): Promise<TensorSource[]> {
  const file = join(dir, 'adapter_model.safetensors');
  if (!existsSync(file)) throw new Error(`${dir}: adapter_config.json without adapter_model.safetensors`);
  const header = await parseSafetensorsHeader(file);
  const found = new Map(
    header.tensors.map((t) => [t.name.startsWith(PEFT_PREFIX) ? t.name.slice(PEFT_PREFIX.length) : t.name, t]),
  );
  const want = new Set(expected.map((e) => e.name));
  const missing = expected.filter((e) => !found.has(e.name)).map((e) => PEFT_PREFIX + e.name);
  const unexpected = [...found.keys()].filter((n) => !want.has(n)).map((n) => PEFT_PREFIX + n);
  if (missing.length > 0 || unexpected.length > 0)
    throw new Error(
      `${file}: ${missing.length > 0 ? `missing tensors: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (+${missing.length - 3})` : ''}` : ''}` +
        `${missing.length > 0 && unexpected.length > 0 ? '; ' : ''}` +
        `${unexpected.length > 0 ? `unexpected tensors: ${unexpected.slice(0, 3).join(', ')}${unexpected.length > 3 ? ` (+${unexpected.length - 3})` : ''}` : ''}`,
    );
  return expected.map((e) => {
    const t = found.get(e.name)!;
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i]))
      throw new Error(
        `${file}: tensor "${PEFT_PREFIX}${e.name}" has shape [${t.shape}], the model expects [${e.shape}]`,
      );
    return { ...toTensorSource(t), name: e.name };
  });
}

/**
 * Bytes a training run keeps resident for the weights and the optimizer on one GPU, full
 * fine-tuning against LoRA (activations and the KV cache not included): full: bf16 weights (2 B)
 * + fp32 master, gradient and two AdamW moments (16 B) per parameter; LoRA: bf16 frozen base (2 B
 * per parameter) + the same 2 + 16 B per adapter parameter.
 */
export function trainingMemoryBytes(params: number, adapterParams: number): { full: number; lora: number } {
  return { full: params * 18, lora: params * 2 + adapterParams * 18 };
}

/**
 * Adapter parameter count of a spec on a model: r x (in + out) per targeted projection per layer.
 */
export function loraParameterCount(
  c: Pick<
    NativeQwen3Config,
    'hiddenSize' | 'intermediateSize' | 'numHiddenLayers' | 'numAttentionHeads' | 'numKeyValueHeads' | 'headDim'
  >,
  spec: Pick<LoraSpec, 'r' | 'target_modules'>,
): number {
  const H = c.hiddenSize,
    I = c.intermediateSize,
    q = c.numAttentionHeads * c.headDim,
    kv = c.numKeyValueHeads * c.headDim;
  const dims: Record<string, [number, number]> = {
    q_proj: [H, q],
    k_proj: [H, kv],
    v_proj: [H, kv],
    o_proj: [q, H],
    gate_proj: [H, I],
    up_proj: [H, I],
    down_proj: [I, H],
  };
  let per = 0;
  for (const t of spec.target_modules) per += spec.r * (dims[t]![0] + dims[t]![1]);
  return per * c.numHiddenLayers;
}
