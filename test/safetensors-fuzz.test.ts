import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DTYPE_BYTES,
  encodeSafetensors,
  parseSafetensorsHeader,
  type SafetensorsHeader,
} from '../src/checkpoint/index.js';
import { mulberry32 } from './helpers/prng.js';
import { scratchDir } from './helpers/scratch.js';

const rng = mulberry32;

/** Every invariant a successful parse promises. */
function checkInvariants(h: SafetensorsHeader, file: string, fileSize: number): void {
  expect(h.file).toBe(file);
  expect(h.fileSize).toBe(fileSize);
  expect(h.dataStart).toBe(8 + h.headerLength);
  expect(h.dataStart).toBeLessThanOrEqual(fileSize);
  for (const v of Object.values(h.metadata)) expect(typeof v).toBe('string');
  const names = new Set<string>();
  for (const t of h.tensors) {
    expect(names.has(t.name)).toBe(false);
    names.add(t.name);
    expect(t.name).not.toBe('__metadata__');
    expect(Object.keys(DTYPE_BYTES)).toContain(t.dtype);
    for (const d of t.shape) expect(Number.isSafeInteger(d) && d >= 0).toBe(true);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    expect(t.length).toBe(numel * DTYPE_BYTES[t.dtype]);
    expect(t.offset).toBe(h.dataStart + t.dataOffsets[0]);
    expect(t.length).toBe(t.dataOffsets[1] - t.dataOffsets[0]);
    expect(t.offset).toBeGreaterThanOrEqual(h.dataStart);
    expect(t.offset + t.length).toBeLessThanOrEqual(fileSize);
  }
  const ranges = h.tensors.filter((t) => t.length > 0).map((t) => [t.offset, t.offset + t.length] as const);
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![1]);
}

const JSONISH = Buffer.from('0123456789{}[]",:-.e ae_FBIU');

const dir = scratchDir('gtr-st-fuzz-');

describe('parseSafetensorsHeader fuzz', () => {
  it('returns valid entries or throws an Error naming the file, over 2000 seeded mutations', async () => {
    const base = encodeSafetensors(
      [
        { name: 'model.embed_tokens.weight', shape: [4, 3], dtype: 'F32', data: new Float32Array(12) },
        { name: 'model.norm.weight', shape: [3], dtype: 'BF16', data: new Uint16Array(3) },
        { name: 'e', shape: [0], dtype: 'F16', data: new Uint8Array(0) },
        { name: 'i', shape: [2, 1], dtype: 'I64', data: new BigInt64Array(2) },
        { name: 'f8', shape: [5], dtype: 'F8_E4M3', data: new Uint8Array(5) },
      ],
      { format: 'pt' },
    );
    const headerLen = Number(new DataView(base.buffer).getBigUint64(0, true));
    const rand = rng(20240607);
    const int = (n: number) => Math.floor(rand() * n);
    const file = join(dir, 'fuzz.safetensors');
    let ok = 0;
    let failed = 0;
    for (let iter = 0; iter < 2000; iter++) {
      let bytes = Uint8Array.from(base);
      const kind = iter % 6;
      if (kind === 0 || kind === 1) {
        // random bytes in the header (any byte, or JSON-ish characters that keep it near-valid)
        const flips = 1 + int(kind === 0 ? 4 : 2);
        for (let k = 0; k < flips; k++) {
          const pos = 8 + int(headerLen);
          bytes[pos] = kind === 0 ? int(256) : JSONISH[int(JSONISH.length)]!;
        }
      } else if (kind === 2) {
        bytes = bytes.subarray(0, int(bytes.length + 1));
      } else if (kind === 3) {
        const dv = new DataView(bytes.buffer);
        const choice = int(4);
        const n =
          choice === 0
            ? BigInt(int(bytes.length + 16))
            : choice === 1
              ? BigInt(headerLen + int(17) - 8)
              : choice === 2
                ? (1n << BigInt(int(64))) + BigInt(int(1000))
                : BigInt(Math.max(0, headerLen - int(4)));
        dv.setBigUint64(0, BigInt.asUintN(64, n), true);
      } else if (kind === 4) {
        // rewrite one number in the header text
        const text = Buffer.from(bytes.subarray(8, 8 + headerLen)).toString('latin1');
        const nums = [...text.matchAll(/\d+/g)];
        const m = nums[int(nums.length)]!;
        const repl = String([0, 1, 2, 3, 4, 8, 12, 24, 36, 4096, 2 ** 53, -1][int(12)]);
        const next = Buffer.from(text.slice(0, m.index) + repl + text.slice(m.index! + m[0].length), 'latin1');
        const out = new Uint8Array(8 + next.length + (bytes.length - 8 - headerLen));
        new DataView(out.buffer).setBigUint64(0, BigInt(next.length), true);
        out.set(next, 8);
        out.set(bytes.subarray(8 + headerLen), 8 + next.length);
        bytes = out;
      } else {
        // bit flips anywhere, plus possibly a truncation
        for (let k = 0; k < 1 + int(3); k++) {
          const pos = int(bytes.length);
          bytes[pos] = bytes[pos]! ^ (1 << int(8));
        }
        if (rand() < 0.3) bytes = bytes.subarray(0, int(bytes.length + 1));
      }
      await writeFile(file, bytes);
      let result: SafetensorsHeader | undefined;
      try {
        result = await parseSafetensorsHeader(file);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message).toContain(file);
        failed++;
        continue;
      }
      checkInvariants(result, file, bytes.length);
      ok++;
    }
    expect(ok + failed).toBe(2000);
    expect(ok).toBeGreaterThan(50);
    expect(failed).toBeGreaterThan(500);
  });
});
