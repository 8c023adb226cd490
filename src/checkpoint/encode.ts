/** Whole-file safetensors encoding in JS, for small files (tests, fixtures, tools); the policy's
 * weights are written by the native addon instead. */
import { buildSafetensorsHeader, tensorBytes, type HeaderTensor } from './safetensors.js';
import { writeFileAtomic } from './save.js';

/** A tensor with its raw little-endian bytes. */
export interface TensorWithData extends HeaderTensor {
  /** Exactly prod(shape) x dtype size bytes (a typed array's underlying bytes are used). */
  data: ArrayBufferView;
}

/**
 * The complete bytes of a safetensors file holding `tensors` in the given order.
 * @throws Error when a tensor's data length differs from prod(shape) x dtype size, or as
 *   buildSafetensorsHeader does.
 */
export function encodeSafetensors(tensors: TensorWithData[], metadata?: Record<string, string>): Uint8Array {
  const built = buildSafetensorsHeader(tensors, metadata);
  const out = new Uint8Array(built.fileBytes);
  out.set(built.header, 0);
  tensors.forEach((t, i) => {
    const want = tensorBytes(t);
    if (t.data.byteLength !== want) {
      throw new Error(`tensor "${t.name}": ${t.data.byteLength} data bytes, expected ${want}`);
    }
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), built.offsets[i]!.offset);
  });
  return out;
}

/**
 * Writes {@link encodeSafetensors}'s bytes to `path` atomically.
 * @throws as encodeSafetensors, or the write's error.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorWithData[],
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
