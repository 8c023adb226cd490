// Checkpoint round trips through the native writer and loader, sharded saves, bf16, and malformed
// checkpoints refused through Policy.load with errors naming the file and tensor.
import { afterAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensorsHeader } from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { parityDir } from './helpers/paths.js';
import { pack, parityReference } from './helpers/parity.js';

const scratch = await mkdtemp(join(tmpdir(), 'gtr-ckpt-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** Every tensor's raw bytes of a single-file or sharded checkpoint, by name. */
async function tensorBytes(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const f of (await readdir(dir)).filter((x) => x.endsWith('.safetensors'))) {
    const file = join(dir, f);
    const data = await readFile(file);
    for (const t of (await parseSafetensorsHeader(file)).tensors) {
      const src = {
        offset: (t as unknown as { offset: number }).offset,
        length: (t as unknown as { length: number }).length,
      };
      out.set(t.name, data.subarray(src.offset, src.offset + src.length));
    }
  }
  return out;
}

describe('save then load', () => {
  it.each(['tied', 'untied'] as const)('gives identical tensors and logits (%s)', async (name) => {
    const a = await Policy.load(parityDir(name));
    const out = join(scratch, `rt-${name}`);
    await a.save(out);
    const b = await Policy.load(out);
    try {
      const orig = await tensorBytes(parityDir(name));
      const saved = await tensorBytes(out);
      for (const p of a.parameterInfo()) expect(Buffer.compare(saved.get(p.name)!, orig.get(p.name)!)).toBe(0);
      const ref = parityReference(name);
      const { tokens, seqLens } = pack(ref.sequences);
      expect(await b.native.forwardLogits(tokens, seqLens)).toEqual(await a.native.forwardLogits(tokens, seqLens));
      const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
      expect(cfg.tie_word_embeddings).toBe(name === 'tied');
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('writes shards with an index when over the shard size, and loads them back', async () => {
    const a = await Policy.load(parityDir('untied'));
    const out = join(scratch, 'sharded');
    await a.save(out, { maxShardBytes: 150_000 });
    const files = await readdir(out);
    expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    const index = JSON.parse(await readFile(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(Object.keys(index.weight_map).length).toBe(a.parameterInfo().length);
    const b = await Policy.load(out);
    const ref = parityReference('untied');
    const { tokens, seqLens } = pack(ref.sequences);
    expect(await b.native.forwardLogits(tokens, seqLens)).toEqual(await a.native.forwardLogits(tokens, seqLens));
    a.dispose();
    b.dispose();
  });

  it('stores bf16 and loads it into fp32 or bf16 compute', async () => {
    const a = await Policy.load(parityDir('tied'));
    const out = join(scratch, 'bf16');
    await a.save(out, { dtype: 'bfloat16' });
    const header = await parseSafetensorsHeader(join(out, 'model.safetensors'));
    expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set(['BF16']));
    const b = await Policy.load(out, { dtype: 'bfloat16' });
    const c = await Policy.load(out, { dtype: 'float32' });
    const ref = parityReference('tied');
    const { tokens, seqLens } = pack(ref.sequences);
    const lb = await b.native.forwardLogits(tokens, seqLens);
    // bf16 weights and compute: close to the fp32 reference at bf16 precision, not equal.
    let err = 0,
      norm = 0;
    for (let i = 0; i < lb.length; i++) {
      err += (lb[i] - ref.logits[i]) ** 2;
      norm += ref.logits[i] ** 2;
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(0.05);
    expect(Math.sqrt(err / norm)).toBeGreaterThan(0);
    expect((await c.native.forwardLogits(tokens, seqLens)).length).toBe(lb.length);
    a.dispose();
    b.dispose();
    c.dispose();
  });

  it('leaves the old checkpoint intact when a save fails midway', async () => {
    const a = await Policy.load(parityDir('tied'));
    const out = join(scratch, 'atomic');
    await a.save(out);
    const before = await readFile(join(out, 'model.safetensors'));
    const np = a.native;
    const failing = Object.create(a) as Policy;
    Object.defineProperty(failing, 'native', {
      get: () => ({
        ...np,
        parameterInfo: () => np.parameterInfo(),
        writeSafetensors: async () => {
          throw new Error('disk full');
        },
      }),
    });
    await expect(a.save.call(failing, out)).rejects.toThrow(/disk full/);
    expect(Buffer.compare(await readFile(join(out, 'model.safetensors')), before)).toBe(0);
    expect((await readdir(scratch)).filter((f) => f.startsWith('atomic.tmp'))).toEqual([]);
    a.dispose();
  });
});

describe('malformed checkpoints', () => {
  async function copyFixture(name: string): Promise<string> {
    const dir = join(scratch, name);
    await cp(parityDir('tied'), dir, { recursive: true });
    return dir;
  }

  it('refuses pickle checkpoints', async () => {
    const dir = await copyFixture('pickle');
    await rm(join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'pytorch_model.bin'), 'not really');
    await expect(Policy.load(dir)).rejects.toThrow(/pickle/i);
  });

  it('names a truncated weight file', async () => {
    const dir = await copyFixture('truncated');
    await truncate(join(dir, 'model.safetensors'), 5000);
    await expect(Policy.load(dir)).rejects.toThrow(/model\.safetensors/);
  });

  it('names a tensor whose shape disagrees with config.json', async () => {
    const dir = await copyFixture('shape');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 96 }));
    await expect(Policy.load(dir)).rejects.toThrow(/mlp\.(gate|up|down)_proj\.weight.*shape/);
  });

  it('names missing tensors', async () => {
    const dir = await copyFixture('missing');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 3, layer_types: undefined }));
    await expect(Policy.load(dir)).rejects.toThrow(/missing tensors: .*model\.layers\.2\./);
  });

  it('names a bad config.json field', async () => {
    const dir = await copyFixture('badcfg');
    const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, hidden_size: 'big' }));
    await expect(Policy.load(dir)).rejects.toThrow(/config\.json.*hidden_size/);
  });
});
