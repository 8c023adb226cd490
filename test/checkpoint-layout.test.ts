import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  encodeSafetensors,
  parseSafetensorsHeader,
  planLoad,
  qwen3TensorInfo,
  resolveCheckpointFiles,
  saveCheckpointAtomic,
  saveSafetensorsCheckpoint,
  shardPlan,
  writeSafetensorsFile,
  DEFAULT_MAX_SHARD_BYTES,
  type HeaderTensor,
  type WriteSafetensors,
  commitTempFile,
  tempPathFor,
  writeFileAtomic,
  writeFileAtomicSync,
  writeFileAtomicWith,
} from '../src/checkpoint/index.js';
import type { NativeQwen3Config, TensorInfo } from '../src/native/types.js';

let root: string;
let n = 0;
const fresh = async () => {
  const d = join(root, `c${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gtr-ckpt-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const tinyCfg: NativeQwen3Config = {
  vocabSize: 8,
  hiddenSize: 4,
  intermediateSize: 6,
  numHiddenLayers: 1,
  numAttentionHeads: 2,
  numKeyValueHeads: 1,
  headDim: 2,
  rmsNormEps: 1e-6,
  ropeTheta: 1e6,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 64,
};

/** A JS stand-in for NativePolicy.writeSafetensors: fills tensor i with the value i. */
const jsWriter =
  (all: TensorInfo[]): WriteSafetensors =>
  async (path, header, names, dtype) => {
    expect(dtype).toBe('F32');
    const parts: Uint8Array[] = [header];
    for (const name of names) {
      const t = all.find((x) => x.name === name)!;
      parts.push(new Uint8Array(new Float32Array(t.shape.reduce((a, b) => a * b, 1)).fill(all.indexOf(t)).buffer));
    }
    await writeFile(path, Buffer.concat(parts));
  };

async function writeModel(dir: string, infos: TensorInfo[], file = 'model.safetensors', dtype: 'F32' | 'BF16' = 'F32') {
  await writeSafetensorsFile(
    join(dir, file),
    infos.map((t) => ({
      name: t.name,
      shape: t.shape,
      dtype,
      data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2)),
    })),
  );
}

describe('resolveCheckpointFiles', () => {
  it('finds model.safetensors', async () => {
    const d = await fresh();
    await writeModel(d, qwen3TensorInfo(tinyCfg));
    expect(await resolveCheckpointFiles(d)).toEqual({ kind: 'single', files: [join(d, 'model.safetensors')] });
  });

  it('refuses pickle checkpoints', async () => {
    for (const f of ['pytorch_model.bin', 'model.pt', 'weights.pth', 'x.bin']) {
      const d = await fresh();
      await writeFile(join(d, f), 'pickle');
      await expect(resolveCheckpointFiles(d)).rejects.toThrow(
        new RegExp(`pickle checkpoints are not loaded: convert to safetensors .*${f.replace('.', '\\.')}`),
      );
    }
  });

  it('names missing dirs and files', async () => {
    await expect(resolveCheckpointFiles(join(root, 'nope'))).rejects.toThrow(/checkpoint directory not found: .*nope/);
    const d = await fresh();
    await writeFile(join(d, 'config.json'), '{}');
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('resolves a sharded index and checks it', async () => {
    const d = await fresh();
    await writeModel(d, [{ name: 'a', shape: [2], dtype: 'float32' }], 's1.safetensors');
    await writeModel(d, [{ name: 'b', shape: [2], dtype: 'float32' }], 's2.safetensors');
    const index = (wm: unknown) =>
      writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: wm }));
    await index({ a: 's1.safetensors', b: 's2.safetensors' });
    const r = await resolveCheckpointFiles(d);
    expect(r.kind).toBe('sharded');
    expect(r.files).toEqual([join(d, 's1.safetensors'), join(d, 's2.safetensors')]);
    expect(r.weightMap?.get('b')).toBe(join(d, 's2.safetensors'));
    await index({ a: 's1.safetensors', b: 's3.safetensors' });
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/index\.json: shard s3\.safetensors is missing/);
    await index({ a: '../s1.safetensors' });
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(
      /weight_map\["a"\] = "\.\.\/s1\.safetensors" is not a file inside/,
    );
    await index({ a: 3 });
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/weight_map\["a"\] must be a shard file name/);
    await index({});
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/weight_map is empty/);
    await writeFile(join(d, 'model.safetensors.index.json'), '{"weight_map": [');
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/index\.json: invalid JSON/);
    await writeFile(join(d, 'model.safetensors.index.json'), '{"metadata": {}}');
    await expect(resolveCheckpointFiles(d)).rejects.toThrow(/missing "weight_map"/);
  });
});

describe('planLoad', () => {
  const infos = qwen3TensorInfo(tinyCfg);

  it('returns validated sources in expected order; tolerates lm_head.weight when tied', async () => {
    const d = await fresh();
    await writeModel(
      d,
      [...infos].reverse().concat([{ name: 'lm_head.weight', shape: [8, 4], dtype: 'float32' }]),
      undefined,
      'BF16',
    );
    const plan = await planLoad(d, infos);
    expect(plan.map((s) => s.name)).toEqual(infos.map((i) => i.name));
    const h = await parseSafetensorsHeader(join(d, 'model.safetensors'));
    const emb = h.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    expect(plan[0]).toEqual({
      name: 'model.embed_tokens.weight',
      file: join(d, 'model.safetensors'),
      dtype: 'BF16',
      shape: [8, 4],
      offset: emb.offset,
      length: 64,
    });
  });

  it('names missing, unexpected, misshapen and wrongly typed tensors', async () => {
    const d = await fresh();
    await writeModel(d, infos.slice(1).concat([{ name: 'extra.weight', shape: [1], dtype: 'float32' }]));
    await expect(planLoad(d, infos)).rejects.toThrow(
      /missing tensors: model\.embed_tokens\.weight; unexpected tensors: extra\.weight/,
    );
    const untied = qwen3TensorInfo({ ...tinyCfg, tieWordEmbeddings: false });
    const d2 = await fresh();
    await writeModel(d2, infos);
    await expect(planLoad(d2, untied)).rejects.toThrow(/missing tensors: lm_head\.weight$/);
    const d3 = await fresh();
    await writeModel(
      d3,
      infos.map((t) => (t.name === 'model.norm.weight' ? { ...t, shape: [5] } : t)),
    );
    await expect(planLoad(d3, infos)).rejects.toThrow(
      /tensor "model\.norm\.weight" has shape \[5\], the model expects \[4\]/,
    );
    const d4 = await fresh();
    await writeSafetensorsFile(
      join(d4, 'model.safetensors'),
      infos.map((t) => ({
        name: t.name,
        shape: t.shape,
        dtype: t.name === 'model.norm.weight' ? ('F64' as const) : ('F32' as const),
        data: new Uint8Array(t.shape.reduce((a, b) => a * b, 1) * (t.name === 'model.norm.weight' ? 8 : 4)),
      })),
    );
    await expect(planLoad(d4, infos)).rejects.toThrow(
      /"model\.norm\.weight" has dtype F64; only F32, BF16 and F16 load/,
    );
  });

  it('lists many missing names briefly', async () => {
    const d = await fresh();
    await writeModel(d, [infos[0]!]);
    await expect(planLoad(d, infos)).rejects.toThrow(/\.\.\. \(\d+ in all\)/);
  });

  it('checks shards against the weight_map', async () => {
    const d = await fresh();
    await writeModel(d, infos.slice(0, 5), 'a.safetensors');
    await writeModel(d, infos.slice(5), 'b.safetensors');
    const wm: Record<string, string> = {};
    infos.forEach((t, i) => {
      wm[t.name] = i < 5 ? 'a.safetensors' : 'b.safetensors';
    });
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    const plan = await planLoad(d, infos);
    expect(plan.map((s) => s.file)).toEqual(infos.map((_, i) => join(d, i < 5 ? 'a.safetensors' : 'b.safetensors')));
    wm[infos[0]!.name] = 'b.safetensors';
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    await expect(planLoad(d, infos)).rejects.toThrow(
      /weight_map puts "model\.embed_tokens\.weight" in .*b\.safetensors, but it is in .*a\.safetensors/,
    );
    delete wm[infos[0]!.name];
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    await expect(planLoad(d, infos)).rejects.toThrow(/weight_map does not list "model\.embed_tokens\.weight"/);
    wm[infos[0]!.name] = 'a.safetensors';
    wm['ghost'] = 'a.safetensors';
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    await expect(planLoad(d, infos)).rejects.toThrow(
      /weight_map names "ghost" in .*a\.safetensors, but no shard holds it/,
    );
    delete wm['ghost'];
    await writeModel(d, infos.slice(0, 6), 'a.safetensors');
    await writeFile(join(d, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wm }));
    await expect(planLoad(d, infos)).rejects.toThrow(/is stored twice: in .*a\.safetensors and .*b\.safetensors/);
  });
});

describe('shardPlan', () => {
  const t = (name: string, bytes: number): HeaderTensor => ({ name, shape: [bytes / 4], dtype: 'F32' });

  it('keeps a small model in one model.safetensors without index', () => {
    const p = shardPlan([t('a', 8), t('b', 8)]);
    expect(DEFAULT_MAX_SHARD_BYTES).toBe(5e9);
    expect(p.shards.map((s) => s.file)).toEqual(['model.safetensors']);
    expect(p.index).toBeUndefined();
    expect(p.totalBytes).toBe(16);
  });

  it('splits greedily in order with HF names and an index', () => {
    const p = shardPlan([t('a', 40), t('b', 40), t('c', 100), t('d', 8), t('e', 8)], 96, { format: 'pt' });
    expect(p.shards.map((s) => [s.file, s.tensors.map((x) => x.name), s.dataBytes])).toEqual([
      ['model-00001-of-00003.safetensors', ['a', 'b'], 80],
      ['model-00002-of-00003.safetensors', ['c'], 100],
      ['model-00003-of-00003.safetensors', ['d', 'e'], 16],
    ]);
    expect(p.index).toEqual({
      metadata: { total_size: 196 },
      weight_map: {
        a: 'model-00001-of-00003.safetensors',
        b: 'model-00001-of-00003.safetensors',
        c: 'model-00002-of-00003.safetensors',
        d: 'model-00003-of-00003.safetensors',
        e: 'model-00003-of-00003.safetensors',
      },
    });
    expect(() => shardPlan([t('a', 4)], 0)).toThrow(/maxShardBytes must be a positive integer/);
  });
});

describe('saveCheckpointAtomic', () => {
  it('writes a new dir and replaces an old one, leaving no temp siblings', async () => {
    const parent = await fresh();
    const d = join(parent, 'ckpt');
    await saveCheckpointAtomic(d, async (tmp) => writeFile(join(tmp, 'a.txt'), 'one'));
    expect(await readFile(join(d, 'a.txt'), 'utf8')).toBe('one');
    await saveCheckpointAtomic(d, async (tmp) => writeFile(join(tmp, 'b.txt'), 'two'));
    expect(await readdir(d)).toEqual(['b.txt']);
    expect(await readdir(parent)).toEqual(['ckpt']);
  });

  it('leaves the old checkpoint intact and removes the temp dir when writeFiles throws', async () => {
    const parent = await fresh();
    const d = join(parent, 'ckpt');
    await saveCheckpointAtomic(d, async (tmp) => writeFile(join(tmp, 'a.txt'), 'old'));
    let seenTmp = '';
    await expect(
      saveCheckpointAtomic(d, async (tmp) => {
        seenTmp = tmp;
        await writeFile(join(tmp, 'a.txt'), 'half-written');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(seenTmp).toMatch(/ckpt\.tmp-\d+-[0-9a-f]+$/);
    expect(await readFile(join(d, 'a.txt'), 'utf8')).toBe('old');
    expect(await readdir(parent)).toEqual(['ckpt']);
  });

  it('saves a sharded safetensors checkpoint that planLoad reads back', async () => {
    const parent = await fresh();
    const d = join(parent, 'model');
    const infos = qwen3TensorInfo(tinyCfg);
    const plan = await saveSafetensorsCheckpoint(d, infos, 'F32', jsWriter(infos), {
      maxShardBytes: 200,
      extraFiles: async (tmp) => writeFile(join(tmp, 'config.json'), '{}'),
    });
    expect(plan.shards.length).toBeGreaterThan(1);
    const files = (await readdir(d)).sort();
    expect(files).toContain('model.safetensors.index.json');
    expect(files).toContain('config.json');
    expect(files).toContain(`model-00001-of-0000${plan.shards.length}.safetensors`);
    const index = JSON.parse(await readFile(join(d, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(plan.totalBytes);
    const sources = await planLoad(d, infos);
    for (const s of sources) {
      const bytes = await readFile(s.file);
      const v = new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + s.offset, bytes.byteOffset + s.offset + s.length),
      );
      expect(v.every((x) => x === infos.findIndex((i) => i.name === s.name))).toBe(true);
    }
    const h = await parseSafetensorsHeader(join(d, plan.shards[0]!.file));
    expect(h.metadata).toEqual({ format: 'pt' });
    // A single-file save replaces the sharded one entirely.
    await saveSafetensorsCheckpoint(d, infos, 'F32', jsWriter(infos));
    expect(await readdir(d)).toEqual(['model.safetensors']);
    expect((await planLoad(d, infos)).length).toBe(infos.length);
    expect(encodeSafetensors([]).length).toBe(16);
  });
});

describe('writeFileAtomic (the one writer of result and state files)', () => {
  it('writes and replaces a file, text or bytes, leaving no temporary sibling', async () => {
    const parent = await fresh();
    const p = join(parent, 'report.json');
    await writeFileAtomic(p, 'one');
    expect(await readFile(p, 'utf8')).toBe('one');
    await writeFileAtomic(p, new Uint8Array([0x74, 0x77, 0x6f]));
    expect(await readFile(p, 'utf8')).toBe('two');
    writeFileAtomicSync(p, 'three');
    expect(await readFile(p, 'utf8')).toBe('three');
    expect(await readdir(parent)).toEqual(['report.json']);
  });

  it('keeps the old file and removes the temporary when the write fails', async () => {
    const parent = await fresh();
    const p = join(parent, 'optimizer.safetensors');
    await writeFileAtomic(p, 'old');
    let seenTmp = '';
    await expect(
      writeFileAtomicWith(p, async (tmp) => {
        seenTmp = tmp;
        await writeFile(tmp, 'half-written');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    // RunDir.removeStaleTemporaries recognizes this name after a kill.
    expect(seenTmp).toMatch(/optimizer\.safetensors\.tmp-\d+-[0-9a-f]+$/);
    expect(await readFile(p, 'utf8')).toBe('old');
    expect(await readdir(parent)).toEqual(['optimizer.safetensors']);
  });

  it('removes the temporary when the rename fails (a non-empty directory is in the way)', async () => {
    const parent = await fresh();
    const p = join(parent, 'latest');
    await mkdir(join(p, 'inside'), { recursive: true });
    await expect(writeFileAtomic(p, 'x')).rejects.toThrow(/latest/);
    expect(() => writeFileAtomicSync(p, 'x')).toThrow(/latest/);
    expect(await readdir(parent)).toEqual(['latest']);
  });

  it('commits a temporary written by someone else, and names a missing one', async () => {
    const parent = await fresh();
    const p = join(parent, 'state.bin');
    const tmp = tempPathFor(p);
    await writeFile(tmp, 'native bytes');
    await commitTempFile(tmp, p);
    expect(await readFile(p, 'utf8')).toBe('native bytes');
    await expect(commitTempFile(tempPathFor(p), p)).rejects.toThrow(/state\.bin\.tmp-/);
    expect(await readdir(parent)).toEqual(['state.bin']);
  });
});
