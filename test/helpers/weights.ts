/**
 * Weights read back from safetensors files, and the yardstick the data-parallel and sharding tests
 * compare runs by: the relative L2 distance of two runs' weight changes from the same start.
 */
import { readFileSync } from 'node:fs';
import { parseSafetensorsHeader } from '../../src/checkpoint/safetensors.js';

/**
 * Every float32 tensor of a safetensors file, by name. Other dtypes are skipped with
 * `{ otherDtypes: 'skip' }`, else refused (a test that expects an fp32 file says so).
 */
export async function f32Tensors(
  file: string,
  opts: { otherDtypes?: 'skip' | 'throw' } = {},
): Promise<Map<string, Float32Array>> {
  const h = await parseSafetensorsHeader(file);
  const buf = readFileSync(file);
  const out = new Map<string, Float32Array>();
  for (const e of h.tensors) {
    if (e.dtype !== 'F32') {
      if (opts.otherDtypes === 'skip') continue;
      throw new Error(`${file}: tensor ${e.name} is ${e.dtype}, expected F32`);
    }
    out.set(
      e.name,
      new Float32Array(buf.buffer.slice(buf.byteOffset + e.offset, buf.byteOffset + e.offset + e.length)),
    );
  }
  return out;
}

/**
 * ||(b - w0) - (a - w0)|| / ||a - w0|| over every tensor of `a` (float32 maps by name), with
 * `change` = ||a - w0||^2 and `differing` = how many elements of a and b differ at all (0 means the
 * two runs are trivially the same). Throws when b or w0 lacks a tensor of a.
 */
export function relativeChangeDistance(
  w0: Map<string, Float32Array>,
  a: Map<string, Float32Array>,
  b: Map<string, Float32Array>,
): { rel: number; change: number; differing: number } {
  let diff = 0,
    change = 0,
    differing = 0;
  for (const [name, x] of a) {
    const y = b.get(name),
      z = w0.get(name);
    if (!y || !z) throw new Error(`tensor ${name} missing from ${!y ? 'the second run' : 'the start'}`);
    for (let i = 0; i < x.length; i++) {
      diff += (x[i] - y[i]) ** 2;
      change += (x[i] - z[i]) ** 2;
      if (x[i] !== y[i]) differing++;
    }
  }
  return { rel: Math.sqrt(diff / change), change, differing };
}
