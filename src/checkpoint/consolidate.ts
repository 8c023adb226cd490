/**
 * Consolidation of a sharded checkpoint (train.sharding: optimizer | full) into the Hugging Face
 * layout (safetensors + config.json + tokenizer files) that transformers and `gtr` load; verl's
 * model merger and FSDP's `FULL_STATE_DICT` do the same for theirs.
 *
 * Each rank's trainer-state file (`optimizer.rank-RRRRR-of-WWWWW.safetensors`, written by the
 * native trainer, native/train/zero.h) holds, per unit (the root: embeddings, final norm, lm_head;
 * then one per decoder layer), this rank's contiguous shard [S] of the unit's flat parameters
 * (model order, zero-padded to W x S), and its safetensors metadata the layout (per unit its name,
 * shard size S, whether a master shard is stored, and each parameter's name, offset and shape).
 * A parameter is the slice [offset, offset + numel) of the concatenation of the W shards of its
 * unit's `zero.<unit>.master`. Units without masters (fp32 params at the optimizer level: the
 * params are their own masters) are taken from the checkpoint's full weights (policy/).
 */
import { copyFile, mkdir, readdir, readFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSafetensorsHeader, type SafetensorsEntry } from './safetensors.js';
import { writeSafetensorsFile, type TensorWithData } from './encode.js';
import { writeFileAtomic } from './save.js';

/** One unit of the layout in a rank file's metadata (native/train/zero.cpp state_metadata). */
interface LayoutUnit {
  name: string;
  shard: number;
  total: number;
  master: boolean;
  params: { name: string; offset: number; shape: number[] }[];
}

const RANK_FILE = /^optimizer\.rank-(\d+)-of-(\d+)\.safetensors$/;
/** Output files hold at most this many bytes each (HF's sharded layout beyond it). */
const MAX_FILE_BYTES = 2_000_000_000;

export interface ConsolidateResult {
  worldSize: number;
  sharding: string;
  tensors: number;
  /** Tensors rebuilt from the rank shards (the rest were copied from the checkpoint's weights). */
  fromShards: number;
  files: string[];
}

/** Reads one tensor's bytes as float32 (F32, or BF16 widened exactly). */
async function readFloat32(e: SafetensorsEntry): Promise<Float32Array> {
  const fh = await open(e.file, 'r');
  try {
    const buf = Buffer.alloc(e.length);
    await fh.read(buf, 0, e.length, e.offset);
    if (e.dtype === 'F32') return new Float32Array(buf.buffer, buf.byteOffset, e.length / 4).slice();
    if (e.dtype === 'BF16') {
      const n = e.length / 2;
      const u32 = new Uint32Array(n);
      for (let i = 0; i < n; i++) u32[i] = buf.readUInt16LE(2 * i) << 16;
      return new Float32Array(u32.buffer);
    }
    throw new Error(`${e.file}: tensor ${e.name} is ${e.dtype}; F32 or BF16 expected`);
  } finally {
    await fh.close();
  }
}

/** float32 -> bfloat16 bits, rounding to nearest even (torch's .to(torch.bfloat16)); NaN kept NaN. */
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = u[i]!;
    if ((v & 0x7fffffff) > 0x7f800000) out[i] = (v >>> 16) | 0x40;
    else out[i] = (v + 0x7fff + ((v >>> 16) & 1)) >>> 16;
  }
  return out;
}

/**
 * Writes the HF layout of the sharded checkpoint `ckptDir` (its `policy/` and `trainer.state/`)
 * into `out`: the weights from every rank's shards (stored as `dtype`, default float32, the
 * masters' precision), config.json (its dtype set to `dtype`) and the other files of policy/
 * (tokenizer, generation config) copied.
 * @throws Error naming the file when the trainer state is not sharded, a rank file is missing or
 *   disagrees (world size, layout), or a parameter has no source
 */
export async function consolidateCheckpoint(
  ckptDir: string,
  out: string,
  opts: { dtype?: 'float32' | 'bfloat16'; trainerStateDir?: string } = {},
): Promise<ConsolidateResult> {
  const dtype = opts.dtype ?? 'float32';
  const stateDir = join(ckptDir, opts.trainerStateDir ?? 'trainer.state');
  const policyDir = join(ckptDir, 'policy');
  const jsonPath = join(stateDir, 'trainer_state.json');
  let state: { sharding?: { level: string; worldSize: number } };
  try {
    state = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`${jsonPath}: cannot read the trainer state: ${(e as Error).message}`);
  }
  if (!state.sharding)
    throw new Error(
      `${jsonPath}: this checkpoint's trainer state is not sharded (train.sharding: none); its ${policyDir} is already the HF layout`,
    );
  const W = state.sharding.worldSize;
  const files = (await readdir(stateDir)).filter((f) => RANK_FILE.test(f)).sort();
  const ranks = [];
  for (let r = 0; r < W; r++) {
    const name = `optimizer.rank-${String(r).padStart(5, '0')}-of-${String(W).padStart(5, '0')}.safetensors`;
    if (!files.includes(name))
      throw new Error(`${join(stateDir, name)} is missing: the checkpoint was saved by ${W} ranks`);
    const h = await parseSafetensorsHeader(join(stateDir, name));
    if (h.metadata.world_size !== String(W) || h.metadata.rank !== String(r))
      throw new Error(`${h.file}: metadata says rank ${h.metadata.rank} of ${h.metadata.world_size}`);
    ranks.push(h);
  }
  const layout = JSON.parse(ranks[0]!.metadata.layout ?? 'null') as LayoutUnit[] | null;
  if (!Array.isArray(layout)) throw new Error(`${ranks[0]!.file}: no layout in its metadata`);
  for (const h of ranks)
    if (h.metadata.layout !== ranks[0]!.metadata.layout)
      throw new Error(`${h.file}: its layout differs from ${ranks[0]!.file}'s`);

  // The checkpoint's full weights, by name, for units without masters.
  const policyEntries = new Map<string, SafetensorsEntry>();
  for (const f of (await readdir(policyDir)).filter((x) => x.endsWith('.safetensors')))
    for (const e of (await parseSafetensorsHeader(join(policyDir, f))).tensors) policyEntries.set(e.name, e);

  const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
  let fromShards = 0;
  for (const u of layout) {
    let flat: Float32Array | undefined;
    if (u.master) {
      flat = new Float32Array(u.shard * W);
      for (let r = 0; r < W; r++) {
        const e = ranks[r]!.tensors.find((t) => t.name === `zero.${u.name}.master`);
        if (!e || e.shape[0] !== u.shard)
          throw new Error(`${ranks[r]!.file}: zero.${u.name}.master missing or mis-sized`);
        flat.set(await readFloat32(e), r * u.shard);
      }
    }
    for (const p of u.params) {
      const numel = p.shape.reduce((a, b) => a * b, 1);
      if (flat) {
        tensors.push({ name: p.name, shape: p.shape, data: flat.slice(p.offset, p.offset + numel) });
        fromShards++;
      } else {
        const e = policyEntries.get(p.name);
        if (!e) throw new Error(`${policyDir}: no tensor ${p.name} (needed: its unit ${u.name} has no master shards)`);
        tensors.push({ name: p.name, shape: p.shape, data: await readFloat32(e) });
      }
    }
  }

  await mkdir(out, { recursive: true });
  // Files of at most MAX_FILE_BYTES; one file is model.safetensors, more are HF's sharded layout.
  const bytesPer = dtype === 'float32' ? 4 : 2;
  const groups: (typeof tensors)[] = [[]];
  let size = 0;
  for (const t of tensors) {
    const b = t.data.length * bytesPer;
    if (size > 0 && size + b > MAX_FILE_BYTES) {
      groups.push([]);
      size = 0;
    }
    groups.at(-1)!.push(t);
    size += b;
  }
  const names =
    groups.length === 1
      ? ['model.safetensors']
      : groups.map(
          (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`,
        );
  const weightMap: Record<string, string> = {};
  let totalBytes = 0;
  for (let i = 0; i < groups.length; i++) {
    const enc: TensorWithData[] = groups[i]!.map((t) => ({
      name: t.name,
      dtype: dtype === 'float32' ? 'F32' : 'BF16',
      shape: t.shape,
      data: dtype === 'float32' ? t.data : toBf16(t.data),
    }));
    for (const t of enc) {
      weightMap[t.name] = names[i]!;
      totalBytes += t.data.byteLength;
    }
    await writeSafetensorsFile(join(out, names[i]!), enc, { format: 'pt' });
  }
  if (groups.length > 1)
    await writeFileAtomic(
      join(out, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2) + '\n',
    );
  // config.json with the stored dtype; the tokenizer and other files as they are.
  for (const f of await readdir(policyDir, { withFileTypes: true })) {
    if (!f.isFile() || f.name.endsWith('.safetensors') || f.name === 'model.safetensors.index.json') continue;
    if (f.name === 'config.json') {
      const cfg = JSON.parse(await readFile(join(policyDir, f.name), 'utf8')) as Record<string, unknown>;
      if ('torch_dtype' in cfg) cfg.torch_dtype = dtype;
      cfg.dtype = dtype;
      await writeFileAtomic(join(out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    } else {
      await copyFile(join(policyDir, f.name), join(out, f.name));
    }
  }
  return { worldSize: W, sharding: state.sharding.level, tensors: tensors.length, fromShards, files: names };
}
