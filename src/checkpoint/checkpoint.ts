/**
 * Hugging Face checkpoint layout on the read side: which safetensors files hold the weights, and
 * the validated load plan (TensorSource[]) handed to `NativePolicy.loadTensors`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { NativeQwen3Config, TensorInfo, TensorSource } from '../native/types.js';
import { parseSafetensorsHeader, toTensorSource, type SafetensorsEntry } from './safetensors.js';

/** Name of the single-file weights. */
export const SINGLE_FILE = 'model.safetensors';
/** Name of the shard index. */
export const INDEX_FILE = 'model.safetensors.index.json';

/** The weight files of a checkpoint directory. */
export interface CheckpointFiles {
  kind: 'single' | 'sharded';
  /** Absolute or dir-joined paths of the safetensors files, without duplicates. */
  files: string[];
  /** For sharded checkpoints: tensor name -> shard path, from the index's weight_map. */
  weightMap?: Map<string, string>;
  /** For sharded checkpoints: the index file path. */
  indexFile?: string;
}

const PICKLE = /(\.bin|\.pt|\.pth|\.pkl|\.ckpt)$/i;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds the weights of a checkpoint directory: `model.safetensors`, else
 * `model.safetensors.index.json` with its shards.
 * @throws Error naming the directory when it does not exist or holds no safetensors weights; a
 *   refusal for pickle checkpoints (pytorch_model.bin, *.bin, *.pt, *.pth); errors naming the index
 *   when it is not JSON, lacks a string -> string `weight_map`, names a shard outside the directory,
 *   or names a shard that does not exist.
 */
export async function resolveCheckpointFiles(dir: string): Promise<CheckpointFiles> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `checkpoint directory not found: ${dir}`
        : `cannot read checkpoint directory ${dir}: ${(e as Error).message}`,
    );
  }
  const single = join(dir, SINGLE_FILE);
  if (await isFile(single)) return { kind: 'single', files: [single] };
  const indexFile = join(dir, INDEX_FILE);
  if (await isFile(indexFile)) return readIndex(dir, indexFile);
  const pickles = entries.filter((f) => PICKLE.test(f) || f === 'pytorch_model.bin.index.json');
  if (pickles.length > 0) {
    throw new Error(
      `${dir}: pickle checkpoints are not loaded: convert to safetensors first (found ${pickles.slice(0, 5).join(', ')}; ` +
        `e.g. in python: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True))`,
    );
  }
  throw new Error(`${dir}: no ${SINGLE_FILE} or ${INDEX_FILE} in the checkpoint directory`);
}

async function readIndex(dir: string, indexFile: string): Promise<CheckpointFiles> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexFile, 'utf8'));
  } catch (e) {
    throw new Error(`${indexFile}: invalid JSON (${(e as Error).message})`);
  }
  const wm = json && typeof json === 'object' ? (json as Record<string, unknown>).weight_map : undefined;
  if (!wm || typeof wm !== 'object' || Array.isArray(wm)) throw new Error(`${indexFile}: missing "weight_map" object`);
  const weightMap = new Map<string, string>();
  const shards = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '') {
      throw new Error(`${indexFile}: weight_map["${name}"] must be a shard file name`);
    }
    if (basename(shard) !== shard || shard === '.' || shard === '..' || shard.includes('\\')) {
      throw new Error(`${indexFile}: weight_map["${name}"] = "${shard}" is not a file inside the checkpoint directory`);
    }
    const path = join(dir, shard);
    shards.set(shard, path);
    weightMap.set(name, path);
  }
  if (weightMap.size === 0) throw new Error(`${indexFile}: weight_map is empty`);
  for (const [shard, path] of shards) {
    if (!(await isFile(path))) throw new Error(`${indexFile}: shard ${shard} is missing (${path})`);
  }
  return { kind: 'sharded', files: [...shards.values()], weightMap, indexFile };
}

function listNames(names: string[], max = 8): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, ... (${names.length} in all)` : shown;
}

/**
 * Validated load plan: parses every weight file's header and matches it against the parameters
 * the model expects.
 * @param expected the model's parameters (`NativePolicy.parameterInfo()`), HF names
 * @returns one TensorSource per expected parameter, in `expected` order
 * @throws Error naming the file/tensor: any header problem (see parseSafetensorsHeader); a tensor
 *   stored in two files; a sharded tensor not in the file its weight_map names, a weight_map entry
 *   whose tensor is absent, or a stored tensor the weight_map does not list; missing or unexpected
 *   names (listed; a stored `lm_head.weight` is ignored when the model is tied, i.e. `expected`
 *   lacks it); shape mismatches; dtypes other than F32 / BF16 / F16.
 */
export async function planLoad(dir: string, expected: TensorInfo[]): Promise<TensorSource[]> {
  const files = await resolveCheckpointFiles(dir);
  const found = new Map<string, SafetensorsEntry>();
  for (const file of files.files) {
    const header = await parseSafetensorsHeader(file);
    for (const t of header.tensors) {
      const prev = found.get(t.name);
      if (prev) throw new Error(`tensor "${t.name}" is stored twice: in ${prev.file} and ${t.file}`);
      found.set(t.name, t);
    }
  }
  if (files.weightMap) {
    for (const [name, shard] of files.weightMap) {
      const t = found.get(name);
      if (!t) throw new Error(`${files.indexFile}: weight_map names "${name}" in ${shard}, but no shard holds it`);
      if (t.file !== shard)
        throw new Error(`${files.indexFile}: weight_map puts "${name}" in ${shard}, but it is in ${t.file}`);
    }
    for (const t of found.values()) {
      if (!files.weightMap.has(t.name))
        throw new Error(`${files.indexFile}: weight_map does not list "${t.name}" (stored in ${t.file})`);
    }
  }
  const expectedNames = new Set(expected.map((e) => e.name));
  const tied = !expectedNames.has('lm_head.weight');
  const missing = expected.filter((e) => !found.has(e.name)).map((e) => e.name);
  const unexpected = [...found.keys()].filter((n) => !expectedNames.has(n) && !(tied && n === 'lm_head.weight'));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing tensors: ${listNames(missing)}`);
    if (unexpected.length > 0) parts.push(`unexpected tensors: ${listNames(unexpected)}`);
    throw new Error(`${dir}: checkpoint does not match the model: ${parts.join('; ')}`);
  }
  return expected.map((e) => {
    const t = found.get(e.name)!;
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new Error(`${t.file}: tensor "${e.name}" has shape [${t.shape}], the model expects [${e.shape}]`);
    }
    return toTensorSource(t);
  });
}

/**
 * The parameters of a Qwen3 / Qwen2 / Llama model by HF name and shape, mirroring
 * `NativePolicy.parameterInfo()` without the addon (for planning and tests): embed_tokens [V, H]; per
 * layer input_layernorm [H], q_proj [heads*hd, H], k_proj / v_proj [kv*hd, H], o_proj [H, heads*hd]
 * (each with a bias [rows] when the config's qkvBias / oBias says), q_norm / k_norm [hd] (qkNorm),
 * post_attention_layernorm [H], gate_proj / up_proj [I, H], down_proj [H, I] (biases with mlpBias);
 * norm [H]; lm_head [V, H] only when untied.
 */
export function qwen3TensorInfo(c: NativeQwen3Config, dtype: TensorInfo['dtype'] = 'float32'): TensorInfo[] {
  const { vocabSize: V, hiddenSize: H, intermediateSize: I, headDim: hd } = c;
  const q = c.numAttentionHeads * hd;
  const kv = c.numKeyValueHeads * hd;
  const out: TensorInfo[] = [{ name: 'model.embed_tokens.weight', shape: [V, H], dtype }];
  const qkNorm = c.qkNorm ?? true;
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}.`;
    const linear = (name: string, shape: [number, number], bias: boolean | undefined) => {
      out.push({ name: `${p}${name}.weight`, shape, dtype });
      if (bias) out.push({ name: `${p}${name}.bias`, shape: [shape[0]], dtype });
    };
    out.push({ name: `${p}input_layernorm.weight`, shape: [H], dtype });
    linear('self_attn.q_proj', [q, H], c.qkvBias);
    linear('self_attn.k_proj', [kv, H], c.qkvBias);
    linear('self_attn.v_proj', [kv, H], c.qkvBias);
    linear('self_attn.o_proj', [H, q], c.oBias);
    if (qkNorm) {
      out.push(
        { name: `${p}self_attn.q_norm.weight`, shape: [hd], dtype },
        { name: `${p}self_attn.k_norm.weight`, shape: [hd], dtype },
      );
    }
    out.push({ name: `${p}post_attention_layernorm.weight`, shape: [H], dtype });
    linear('mlp.gate_proj', [I, H], c.mlpBias);
    linear('mlp.up_proj', [I, H], c.mlpBias);
    linear('mlp.down_proj', [H, I], c.mlpBias);
  }
  out.push({ name: 'model.norm.weight', shape: [H], dtype });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [V, H], dtype });
  return out;
}
