/**
 * Safetensors headers: hostile-input-safe parsing (the native loader only copies byte ranges
 * validated here) and building the header prefix the native writer puts before the data.
 *
 * Format (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N, then N bytes of
 * UTF-8 JSON `{"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [b, e]}, ...}`
 * (space-padded), then the data section; offsets are relative to the data section's start (8 + N).
 */
import { open } from 'node:fs/promises';
import type { DType, SafetensorsDType, TensorSource } from '../native/types.js';

/** Every dtype tag of the safetensors format this parser knows. */
export type SafetensorsTag =
  'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL' | 'F8_E4M3' | 'F8_E5M2';

/** Bytes per element of each dtype tag. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsTag, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
});

/** Largest header accepted, in bytes (100 MB; real headers are a few hundred KB at most). */
export const MAX_HEADER_BYTES = 100_000_000;

/** One validated tensor entry. Compatible with {@link TensorSource} once its dtype is F32/BF16/F16. */
export interface SafetensorsEntry {
  name: string;
  file: string;
  dtype: SafetensorsTag;
  /** Dimensions (non-negative integers; [] is a scalar). */
  shape: number[];
  /** Absolute byte offset in the file: 8 + headerLength + dataOffsets[0]. */
  offset: number;
  /** Byte length: dataOffsets[1] - dataOffsets[0] = prod(shape) x DTYPE_BYTES[dtype]. */
  length: number;
  /** Offsets relative to the data section, as stored in the header. */
  dataOffsets: [number, number];
}

/** A parsed, validated header. */
export interface SafetensorsHeader {
  file: string;
  /** File size in bytes. */
  fileSize: number;
  /** N, the JSON header's byte length (padding included). */
  headerLength: number;
  /** Absolute offset of the data section (8 + N). */
  dataStart: number;
  metadata: Record<string, string>;
  /** Entries sorted by offset (ties by name). */
  tensors: SafetensorsEntry[];
}

function isTag(x: unknown): x is SafetensorsTag {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, x);
}

function isNonNegInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Reads and validates a safetensors file's header using two small reads (never the whole file).
 * @param file path of the .safetensors file
 * @returns the metadata and every tensor with absolute offsets, sorted by offset
 * @throws Error naming the file (and the tensor where relevant) when: the file cannot be opened or is
 *   shorter than 8 bytes; the header length is over {@link MAX_HEADER_BYTES} or runs past the end of
 *   the file; the header is not UTF-8 JSON object; `__metadata__` is not string -> string; an entry
 *   is not an object, has an unknown dtype, a shape that is not a list of non-negative integers, or
 *   data_offsets that are not [begin, end] with begin <= end <= data section size; the byte size is
 *   not prod(shape) x dtype size; two tensors' byte ranges overlap (naming both).
 */
export async function parseSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT' ? `${file}: safetensors file not found` : `${file}: cannot open: ${(e as Error).message}`,
    );
  }
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize < 8)
      throw new Error(`${file}: not a safetensors file (${fileSize} bytes, shorter than the 8-byte header length)`);
    const lenBuf = Buffer.alloc(8);
    await readExactly(fh, lenBuf, 0, file);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(`${file}: safetensors header length ${n} is absurdly large (limit ${MAX_HEADER_BYTES} bytes)`);
    }
    const headerLength = Number(n);
    if (8 + headerLength > fileSize) {
      throw new Error(
        `${file}: safetensors header length ${headerLength} runs past the end of the file (${fileSize} bytes)`,
      );
    }
    const headerBuf = Buffer.alloc(headerLength);
    await readExactly(fh, headerBuf, 8, file);
    return validateHeader(file, headerBuf, fileSize);
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: import('node:fs/promises').FileHandle, buf: Buffer, position: number, file: string) {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`${file}: file ended while reading the safetensors header`);
    done += bytesRead;
  }
}

/**
 * Validates header JSON bytes against a file of `fileSize` bytes (the checks of
 * {@link parseSafetensorsHeader} after the reads). `headerBytes` is the N bytes after the length.
 * @throws Error naming `file` as described for {@link parseSafetensorsHeader}.
 */
export function validateHeader(file: string, headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  if (dataSize < 0)
    throw new Error(
      `${file}: safetensors header length ${headerLength} runs past the end of the file (${fileSize} bytes)`,
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new Error(`${file}: safetensors header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error(`${file}: safetensors header must be a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        throw new Error(`${file}: __metadata__ must be an object of strings`);
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new Error(`${file}: __metadata__["${k}"] must be a string, got ${typeof v}`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    tensors.push(validateEntry(file, name, raw, dataStart, dataSize));
  }
  tensors.sort((a, b) => a.offset - b.offset || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Overlap check: among non-empty ranges sorted by begin, each must start at or after the furthest end so far.
  let furthest: SafetensorsEntry | undefined;
  for (const t of tensors) {
    if (t.length === 0) continue;
    if (furthest && t.dataOffsets[0] < furthest.dataOffsets[1]) {
      throw new Error(
        `${file}: tensors "${furthest.name}" [${furthest.dataOffsets}] and "${t.name}" [${t.dataOffsets}] have overlapping data_offsets`,
      );
    }
    if (!furthest || t.dataOffsets[1] > furthest.dataOffsets[1]) furthest = t;
  }
  return { file, fileSize, headerLength, dataStart, metadata, tensors };
}

function validateEntry(
  file: string,
  name: string,
  raw: unknown,
  dataStart: number,
  dataSize: number,
): SafetensorsEntry {
  const where = `${file}: tensor "${name}"`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${where}: entry must be an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!isTag(dtype)) {
    throw new Error(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(' ')})`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw new Error(`${where}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw new Error(
      `${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new Error(`${where}: data_offsets [${begin}, ${end}] has begin > end`);
  if (end > dataSize) {
    throw new Error(`${where}: data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes)`);
  }
  let bytes = BigInt(DTYPE_BYTES[dtype]);
  for (const d of shape as number[]) bytes *= BigInt(d);
  if (bytes !== BigInt(end - begin)) {
    throw new Error(
      `${where}: byte size ${end - begin} != prod(shape ${JSON.stringify(shape)}) x ${DTYPE_BYTES[dtype]} (${dtype}) = ${bytes}`,
    );
  }
  return {
    name,
    file,
    dtype,
    shape: [...(shape as number[])],
    offset: dataStart + begin,
    length: end - begin,
    dataOffsets: [begin, end],
  };
}

/** Loadable tags (the native loader's {@link SafetensorsDType}). */
export const LOADABLE_DTYPES: readonly SafetensorsDType[] = ['F32', 'BF16', 'F16'];

/**
 * The native loader's view of an entry.
 * @throws Error naming the file and tensor when the dtype is not F32, BF16 or F16.
 */
export function toTensorSource(entry: SafetensorsEntry): TensorSource {
  if (!(LOADABLE_DTYPES as readonly string[]).includes(entry.dtype)) {
    throw new Error(`${entry.file}: tensor "${entry.name}" has dtype ${entry.dtype}; only F32, BF16 and F16 load`);
  }
  return {
    name: entry.name,
    file: entry.file,
    dtype: entry.dtype as SafetensorsDType,
    shape: [...entry.shape],
    offset: entry.offset,
    length: entry.length,
  };
}

/** Safetensors tag for a native model dtype ('float32' -> F32, 'bfloat16' -> BF16). */
export function tagOfDType(dtype: DType): SafetensorsDType {
  return dtype === 'float32' ? 'F32' : 'BF16';
}

/** A tensor to lay out in a header. */
export interface HeaderTensor {
  name: string;
  shape: number[];
  dtype: SafetensorsTag;
}

/** Result of {@link buildSafetensorsHeader}. */
export interface BuiltHeader {
  /** The complete prefix: u64 LE length N, then N bytes of JSON padded with spaces (8 + N is a multiple of 8). */
  header: Uint8Array;
  /** Per tensor, in the given order: data_offsets relative to the data section, and absolute offset. */
  offsets: { name: string; dataOffsets: [number, number]; offset: number }[];
  /** Data section size in bytes. */
  dataBytes: number;
  /** Total file size in bytes (header.length + dataBytes). */
  fileBytes: number;
}

/** Byte size of a tensor: prod(shape) x dtype size. @throws Error when not a safe integer. */
export function tensorBytes(t: HeaderTensor): number {
  let n = BigInt(DTYPE_BYTES[t.dtype]);
  for (const d of t.shape) n *= BigInt(d);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`tensor "${t.name}": byte size ${n} is too large`);
  return Number(n);
}

/**
 * Lays out `tensors` contiguously in the given order and builds the header prefix (the
 * `header` argument of `NativePolicy.writeSafetensors`). `__metadata__` comes first when given.
 * @throws Error when a name is repeated or is `__metadata__`, a dtype is unknown, or a shape is not a
 *   list of non-negative integers.
 */
export function buildSafetensorsHeader(tensors: HeaderTensor[], metadata?: Record<string, string>): BuiltHeader {
  const parts: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata "${k}" must be a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const seen = new Set<string>();
  const offsets: BuiltHeader['offsets'] = [];
  let pos = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new Error('a tensor cannot be named "__metadata__"');
    if (seen.has(t.name)) throw new Error(`tensor "${t.name}" appears twice`);
    seen.add(t.name);
    if (!isTag(t.dtype)) throw new Error(`tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isNonNegInt)) {
      throw new Error(`tensor "${t.name}": shape must be a list of non-negative integers`);
    }
    const size = tensorBytes(t);
    const dataOffsets: [number, number] = [pos, pos + size];
    // Keys are written by hand: JSON.stringify of an object would move integer-like names first.
    parts.push(
      `${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: t.shape, data_offsets: dataOffsets })}`,
    );
    offsets.push({ name: t.name, dataOffsets, offset: 0 });
    pos += size;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  for (const o of offsets) o.offset = header.length + o.dataOffsets[0];
  return { header, offsets, dataBytes: pos, fileBytes: header.length + pos };
}
