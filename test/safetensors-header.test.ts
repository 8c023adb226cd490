import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildSafetensorsHeader,
  encodeSafetensors,
  parseSafetensorsHeader,
  toTensorSource,
  validateHeader,
  writeSafetensorsFile,
  MAX_HEADER_BYTES,
  tagOfDType,
} from '../src/checkpoint/index.js';

const dir = scratchDir('gtr-st-');

let counter = 0;
async function fileWith(bytes: Uint8Array): Promise<string> {
  const p = join(dir, `f${counter++}.safetensors`);
  await writeFile(p, bytes);
  return p;
}

/** A file whose header is exactly `json` (padded to 8) followed by `dataBytes` zero bytes. */
function rawFile(json: string, dataBytes: number): Uint8Array {
  const body = Buffer.from(json, 'utf8');
  const n = Math.ceil(body.length / 8) * 8;
  const out = new Uint8Array(8 + n + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(body, 8);
  out.fill(0x20, 8 + body.length, 8 + n);
  return out;
}

describe('buildSafetensorsHeader + parseSafetensorsHeader', () => {
  it('round-trips tensors, offsets and metadata', async () => {
    const f32 = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const bf16 = new Uint16Array([0x3f80, 0x4000]);
    const i64 = new BigInt64Array([7n]);
    const path = join(dir, 'rt.safetensors');
    await writeSafetensorsFile(
      path,
      [
        { name: 'w', shape: [2, 3], dtype: 'F32', data: f32 },
        { name: 'b', shape: [2], dtype: 'BF16', data: bf16 },
        { name: 'empty', shape: [0, 5], dtype: 'F16', data: new Uint8Array(0) },
        { name: 'scalar', shape: [], dtype: 'I64', data: i64 },
      ],
      { format: 'pt', note: 'x' },
    );
    const h = await parseSafetensorsHeader(path);
    expect(h.metadata).toEqual({ format: 'pt', note: 'x' });
    expect((8 + h.headerLength) % 8).toBe(0);
    expect(h.dataStart).toBe(8 + h.headerLength);
    const byName = Object.fromEntries(h.tensors.map((t) => [t.name, t]));
    expect(byName.w).toMatchObject({
      dtype: 'F32',
      shape: [2, 3],
      offset: h.dataStart,
      length: 24,
      dataOffsets: [0, 24],
    });
    expect(byName.b).toMatchObject({ dtype: 'BF16', shape: [2], offset: h.dataStart + 24, length: 4 });
    expect(byName.empty).toMatchObject({ length: 0, shape: [0, 5] });
    expect(byName.scalar).toMatchObject({ dtype: 'I64', shape: [], length: 8 });
    expect(h.fileSize).toBe(h.dataStart + 36);
    expect(toTensorSource(byName.w!)).toEqual({
      name: 'w',
      file: path,
      dtype: 'F32',
      shape: [2, 3],
      offset: h.dataStart,
      length: 24,
    });
    expect(() => toTensorSource(byName.scalar!)).toThrow(/"scalar" has dtype I64; only F32, BF16 and F16 load/);
  });

  it('keeps the given order, even for integer-like names, and pads with spaces', () => {
    const built = buildSafetensorsHeader([
      { name: 'z', shape: [1], dtype: 'F32' },
      { name: '10', shape: [3], dtype: 'U8' },
      { name: '2', shape: [2], dtype: 'BF16' },
    ]);
    const n = Number(new DataView(built.header.buffer).getBigUint64(0, true));
    expect(built.header.length).toBe(8 + n);
    expect(n % 8).toBe(0);
    const text = Buffer.from(built.header.subarray(8)).toString('utf8');
    expect(text.indexOf('"z"')).toBeLessThan(text.indexOf('"10"'));
    expect(text.indexOf('"10"')).toBeLessThan(text.indexOf('"2"'));
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(built.offsets.map((o) => o.dataOffsets)).toEqual([
      [0, 4],
      [4, 7],
      [7, 11],
    ]);
    expect(built.offsets[1]!.offset).toBe(built.header.length + 4);
    expect(built.dataBytes).toBe(11);
    expect(tagOfDType('bfloat16')).toBe('BF16');
    expect(tagOfDType('float32')).toBe('F32');
  });

  it('rejects bad build input', () => {
    expect(() =>
      buildSafetensorsHeader([
        { name: 'a', shape: [1], dtype: 'F32' },
        { name: 'a', shape: [1], dtype: 'F32' },
      ]),
    ).toThrow(/"a" appears twice/);
    expect(() => buildSafetensorsHeader([{ name: '__metadata__', shape: [1], dtype: 'F32' }])).toThrow(/__metadata__/);
    expect(() => buildSafetensorsHeader([{ name: 'a', shape: [-1], dtype: 'F32' }])).toThrow(/non-negative/);
    expect(() => buildSafetensorsHeader([{ name: 'a', shape: [1], dtype: 'F128' as 'F32' }])).toThrow(/unknown dtype/);
    expect(() => encodeSafetensors([{ name: 'a', shape: [2], dtype: 'F32', data: new Float32Array(3) }])).toThrow(
      /12 data bytes, expected 8/,
    );
  });
});

describe('parseSafetensorsHeader rejects malformed files', () => {
  const ok = (extra = '') => `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}${extra}}`;
  const cases: [string, () => Uint8Array, RegExp][] = [
    ['empty file', () => new Uint8Array(0), /shorter than the 8-byte header length/],
    ['7-byte file', () => new Uint8Array(7), /\(7 bytes, shorter than/],
    [
      'header length past the end',
      () => {
        const b = rawFile(ok(), 8);
        new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
        return b;
      },
      /header length \d+ runs past the end of the file/,
    ],
    [
      'absurd header length',
      () => {
        const b = rawFile(ok(), 8);
        new DataView(b.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
        return b;
      },
      /absurdly large \(limit 100000000 bytes\)/,
    ],
    [
      'header just over the limit',
      () => {
        const b = rawFile(ok(), 8);
        new DataView(b.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
        return b;
      },
      /absurdly large/,
    ],
    [
      'truncated data',
      () => rawFile(ok(), 8).subarray(0, -1),
      /"a": data_offsets \[0, 8\] run past the data section \(7 bytes\)/,
    ],
    ['bad JSON', () => rawFile('{"a": {"dtype": "F32",', 8), /not valid JSON/],
    ['non-object JSON', () => rawFile('[1,2,3]', 0), /must be a JSON object/],
    ['null JSON', () => rawFile('null', 0), /must be a JSON object/],
    [
      'invalid UTF-8',
      () => {
        const b = rawFile('{"a":1}', 0);
        b[10] = 0xff;
        return b;
      },
      /not valid UTF-8/,
    ],
    ['metadata not an object', () => rawFile('{"__metadata__":"x"}', 0), /__metadata__ must be an object of strings/],
    ['metadata non-string value', () => rawFile('{"__metadata__":{"k":1}}', 0), /__metadata__\["k"\] must be a string/],
    ['entry not an object', () => rawFile('{"a":[1]}', 0), /tensor "a": entry must be an object/],
    [
      'unknown dtype',
      () => rawFile('{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}', 16),
      /tensor "a": unknown dtype "F128"/,
    ],
    [
      'missing dtype',
      () => rawFile('{"a":{"shape":[1],"data_offsets":[0,4]}}', 4),
      /tensor "a": unknown dtype undefined/,
    ],
    [
      'negative dim',
      () => rawFile('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4),
      /tensor "a": shape must be a list of non-negative integers/,
    ],
    ['fractional dim', () => rawFile('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}', 4), /shape must be/],
    ['missing shape', () => rawFile('{"a":{"dtype":"F32","data_offsets":[0,4]}}', 4), /shape must be/],
    [
      'offsets not a pair',
      () => rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', 4),
      /data_offsets must be \[begin, end\]/,
    ],
    [
      'string offsets',
      () => rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}', 4),
      /data_offsets must be/,
    ],
    ['begin > end', () => rawFile('{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}', 4), /begin > end/],
    [
      'out-of-range offsets',
      () => rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', 12),
      /run past the data section \(12 bytes\)/,
    ],
    [
      'huge offsets',
      () => rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1e300,1e300]}}', 4),
      /data_offsets must be/,
    ],
    [
      'size mismatch',
      () => rawFile('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', 8),
      /tensor "a": byte size 8 != prod\(shape \[3\]\) x 4 \(F32\) = 12/,
    ],
    [
      'huge shape',
      () => rawFile('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', 8),
      /byte size 8 !=/,
    ],
    [
      'overlap',
      () =>
        rawFile(
          '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
          8,
        ),
      /tensors "a" \[0,8\] and "b" \[4,8\] have overlapping data_offsets/,
    ],
    [
      'nested overlap',
      () =>
        rawFile(
          '{"a":{"dtype":"U8","shape":[10],"data_offsets":[0,10]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"c":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}',
          10,
        ),
      /"a" \[0,10\] and "c" \[6,8\]|"a" \[0,10\] and "b" \[2,4\]/,
    ],
  ];
  for (const [label, make, re] of cases) {
    it(label, async () => {
      const p = await fileWith(make());
      const err = await parseSafetensorsHeader(p).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
    });
  }

  it('names a missing file', async () => {
    await expect(parseSafetensorsHeader(join(dir, 'nope.safetensors'))).rejects.toThrow(
      /nope\.safetensors: safetensors file not found/,
    );
  });

  it('accepts adjacent, empty and __proto__-named tensors', () => {
    const json =
      '{"__metadata__":{"__proto__":"m"},"__proto__":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"e":{"dtype":"U8","shape":[0],"data_offsets":[1,1]},"f":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}}';
    const bytes = rawFile(json, 4);
    const n = bytes.length - 4 - 8;
    const h = validateHeader('mem', bytes.subarray(8, 8 + n), bytes.length);
    expect(h.tensors.map((t) => t.name).sort()).toEqual(['__proto__', 'e', 'f']);
    expect(Object.getOwnPropertyDescriptor(h.metadata, '__proto__')?.value).toBe('m');
  });
});

// Written by python: safetensors.torch.save({...}, metadata={'format': 'pt'}) with torch 2.13.
const PYTHON_FILE =
  'WAEAAAAAAAB7Il9fbWV0YWRhdGFfXyI6eyJmb3JtYXQiOiJwdCJ9LCJlLnNjYWxhciI6eyJkdHlwZSI6Ikk2NCIsInNoYXBlIjpbXSwiZGF0YV9vZmZzZXRzIjpbMCw4XX0sImIuYmlhcyI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbM10sImRhdGFfb2Zmc2V0cyI6WzgsMjBdfSwiZC5lbXB0eSI6eyJkdHlwZSI6IkYzMiIsInNoYXBlIjpbMCw0XSwiZGF0YV9vZmZzZXRzIjpbMjAsMjBdfSwiYS53ZWlnaHQiOnsiZHR5cGUiOiJCRjE2Iiwic2hhcGUiOlsyLDNdLCJkYXRhX29mZnNldHMiOlsyMCwzMl19LCJjLmhhbGYiOnsiZHR5cGUiOiJGMTYiLCJzaGFwZSI6WzIsMV0sImRhdGFfb2Zmc2V0cyI6WzMyLDM2XX19ICAgIAcAAAAAAAAAAAAAAAAAgD8AAABAAACAPwBAQECAQKBAADwAPA==';

describe('python-written safetensors', () => {
  it('parses the committed python-written file', async () => {
    const p = await fileWith(Buffer.from(PYTHON_FILE, 'base64'));
    const h = await parseSafetensorsHeader(p);
    expect(h.metadata).toEqual({ format: 'pt' });
    const m = Object.fromEntries(h.tensors.map((t) => [t.name, t]));
    expect(m['b.bias']).toMatchObject({ dtype: 'F32', shape: [3], length: 12 });
    expect(m['a.weight']).toMatchObject({ dtype: 'BF16', shape: [2, 3], length: 12 });
    expect(m['c.half']).toMatchObject({ dtype: 'F16', shape: [2, 1], length: 4 });
    expect(m['d.empty']).toMatchObject({ shape: [0, 4], length: 0 });
    expect(m['e.scalar']).toMatchObject({ dtype: 'I64', shape: [], length: 8 });
    const bytes = Buffer.from(PYTHON_FILE, 'base64');
    expect(
      new Float32Array(
        bytes.buffer.slice(bytes.byteOffset + m['b.bias']!.offset, bytes.byteOffset + m['b.bias']!.offset + 12),
      ),
    ).toEqual(Float32Array.from([0, 1, 2]));
  });

  it.skipIf(!pythonHas(['safetensors', 'numpy']).ok)(
    'parses a file python writes now, and python reads ours',
    async () => {
      const py = join(dir, 'py.safetensors');
      execFileSync('python3', [
        '-c',
        `
import numpy as np
from safetensors.numpy import save_file
save_file({"x": np.arange(12, dtype=np.float32).reshape(3, 4), "y": np.ones((5,), dtype=np.float16),
           "z": np.zeros((2, 2, 2), dtype=np.int32), "u": np.arange(3, dtype=np.uint8)}, ${JSON.stringify(py)}, metadata={"k": "v"})
`,
      ]);
      const h = await parseSafetensorsHeader(py);
      expect(h.metadata).toEqual({ k: 'v' });
      expect(Object.fromEntries(h.tensors.map((t) => [t.name, [t.dtype, t.shape, t.length]]))).toEqual({
        x: ['F32', [3, 4], 48],
        y: ['F16', [5], 10],
        z: ['I32', [2, 2, 2], 32],
        u: ['U8', [3], 3],
      });
      const ours = join(dir, 'ours.safetensors');
      await writeSafetensorsFile(
        ours,
        [
          { name: '10', shape: [2, 2], dtype: 'F32', data: Float32Array.from([1, 2, 3, 4]) },
          { name: 'b', shape: [3], dtype: 'I64', data: new BigInt64Array([1n, -2n, 3n]) },
        ],
        { format: 'pt' },
      );
      const out = execFileSync('python3', [
        '-c',
        `
from safetensors import safe_open
with safe_open(${JSON.stringify(ours)}, "np") as f:
    print(f.metadata()["format"], f.get_tensor("10").tolist(), f.get_tensor("b").tolist())
`,
      ])
        .toString()
        .trim();
      expect(out).toBe('pt [[1.0, 2.0], [3.0, 4.0]] [1, -2, 3]');
    },
  );
});
import { pythonHas } from './helpers/python.js';
import { scratchDir } from './helpers/scratch.js';
