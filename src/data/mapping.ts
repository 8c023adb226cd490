/**
 * Field mapping: turns one raw source record (a parsed JSONL object or a parquet row) into the
 * common {@link DatasetRow}. The mapping is data (it lives in datasets/manifest.json), so a new
 * source format is a manifest edit, not code.
 */
import { z } from 'zod';
import type { DatasetRow } from './types.js';
import { DAPO_PREFIX, DAPO_SUFFIX } from './templates.js';

/** Value transforms a field spec may apply after reading the source value. */
export const FIELD_TRANSFORMS = ['to_string', 'last_boxed', 'strip_dapo_template', 'last_user_message'] as const;
export type FieldTransform = (typeof FIELD_TRANSFORMS)[number];

/**
 * Where one common field comes from. `from` is a dotted path (`"final_answer.0"`,
 * `"prompt.0.content"`), a list of alternative paths (the first present wins), or `"$index"`
 * (the record's 0-based position in the file).
 */
export const FieldSpecSchema = z.strictObject({
  from: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  transform: z.enum(FIELD_TRANSFORMS).optional(),
  prefix: z.string().optional(),
});
export type FieldSpec = z.infer<typeof FieldSpecSchema>;

/** How a source's records map onto {@link DatasetRow}. */
export const FieldMappingSchema = z.strictObject({
  id: FieldSpecSchema.optional(),
  problem: FieldSpecSchema,
  answer: FieldSpecSchema,
  /** Source keys renamed when copied into `extra` (e.g. OlympiadBench `solution` -> `solutions`). */
  rename: z.record(z.string(), z.string()).optional(),
  /** Source keys not copied into `extra` (`id`, `problem`, `answer` are never copied unless renamed). */
  omit: z.array(z.string()).optional(),
  /** Constant fields added to `extra` (e.g. `source: "MATH-500"`). */
  constants: z.record(z.string(), z.unknown()).optional(),
});
export type FieldMapping = z.infer<typeof FieldMappingSchema>;

/** The identity mapping of the local JSONL copies (rows already have id/problem/answer). */
export const IDENTITY_MAPPING: FieldMapping = {
  id: { from: 'id' },
  problem: { from: 'problem' },
  answer: { from: 'answer' },
};

/**
 * verl's RL parquet layout (verl examples/data_preprocess: `data_source`, `prompt` as chat
 * messages, `ability`, `reward_model.ground_truth`, `extra_info`): the problem is the last user
 * message (without DAPO's instruction wrapper when it has one: the recipe's template adds it), the
 * answer `reward_model.ground_truth`, the id `extra_info.index` (else the row number). The other
 * fields stay in `extra`.
 */
export const VERL_MAPPING: FieldMapping = {
  id: { from: ['extra_info.index', '$index'] },
  problem: { from: 'prompt', transform: 'last_user_message' },
  answer: { from: 'reward_model.ground_truth', transform: 'to_string' },
  omit: ['prompt'],
};

/** The content of the last `role: user` message of a chat list, DAPO's wrapper removed. */
function lastUserMessage(v: unknown): { value?: string; reason?: string } {
  if (!Array.isArray(v)) return { reason: `is a ${typeof v}, expected a list of chat messages` };
  const user = [...v]
    .reverse()
    .find((m) => m !== null && typeof m === 'object' && (m as { role?: unknown }).role === 'user');
  const content = (user as { content?: unknown } | undefined)?.content;
  if (typeof content !== 'string') return { reason: 'has no user message with text content' };
  const wrapped = content.startsWith(DAPO_PREFIX) && content.endsWith(DAPO_SUFFIX);
  return { value: wrapped ? content.slice(DAPO_PREFIX.length, content.length - DAPO_SUFFIX.length) : content };
}

/** Result of mapping one record: the row, or the reason it is unusable. */
export type MapResult = { ok: true; row: DatasetRow } | { ok: false; reason: string };

/**
 * Reads a dotted path (`a.b.0.c`) out of a nested value; numeric segments index arrays.
 * Returns undefined when any step is missing.
 */
export function getPath(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const seg of path.split('.')) {
    if (cur === null || cur === undefined) return undefined;
    if (Array.isArray(cur)) cur = /^\d+$/.test(seg) ? cur[Number(seg)] : undefined;
    else if (typeof cur === 'object') cur = (cur as Record<string, unknown>)[seg];
    else return undefined;
  }
  return cur;
}

/**
 * Content of the last `\boxed{...}` (or `\fbox{...}`) in `text`, braces matched; undefined if
 * there is none or its braces never close.
 */
export function lastBoxed(text: string): string | undefined {
  const at = Math.max(text.lastIndexOf('\\boxed{'), text.lastIndexOf('\\fbox{'));
  if (at < 0) return undefined;
  const open = text.indexOf('{', at);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  return undefined;
}

/** Formats a scalar as a string: numbers in shortest form (27.0 -> "27"), bigint as digits. */
function scalarToString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  return undefined;
}

function applyTransform(v: unknown, t: FieldTransform | undefined): { value?: string; reason?: string } {
  if (v === undefined || v === null) return {};
  if (t === undefined || t === 'to_string') {
    const s = scalarToString(v);
    return s === undefined
      ? { reason: `is a ${Array.isArray(v) ? 'list' : typeof v}, expected a string` }
      : { value: s };
  }
  if (t === 'last_user_message') return lastUserMessage(v);
  if (typeof v !== 'string') return { reason: `is a ${typeof v}, expected a string` };
  if (t === 'last_boxed') {
    const b = lastBoxed(v);
    return b === undefined ? { reason: 'has no \\boxed{...} to take the answer from' } : { value: b };
  }
  // strip_dapo_template
  if (!v.startsWith(DAPO_PREFIX) || !v.endsWith(DAPO_SUFFIX)) return { reason: 'does not match the DAPO template' };
  return { value: v.slice(DAPO_PREFIX.length, v.length - DAPO_SUFFIX.length) };
}

function readField(raw: Record<string, unknown>, spec: FieldSpec, index: number): { value?: string; reason?: string } {
  const paths = Array.isArray(spec.from) ? spec.from : [spec.from];
  let v: unknown;
  for (const p of paths) {
    v = p === '$index' ? index : getPath(raw, p);
    if (v !== undefined && v !== null) break;
  }
  const out = applyTransform(v, spec.transform);
  if (out.value !== undefined && spec.prefix) out.value = spec.prefix + out.value;
  return out;
}

/**
 * Maps one raw record to a {@link DatasetRow}. A record is unusable when it is not an object or
 * when its problem or answer is missing, not a string (numbers are stringified) or empty after
 * trimming. A missing id falls back to `${fallbackIdPrefix}-${index}`.
 */
export function mapRecord(raw: unknown, mapping: FieldMapping, index: number, fallbackIdPrefix: string): MapResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      ok: false,
      reason: `expected a JSON object, got ${Array.isArray(raw) ? 'a list' : String(raw === null ? 'null' : typeof raw)}`,
    };
  }
  const rec = raw as Record<string, unknown>;
  const fields = {} as Record<'problem' | 'answer', string>;
  for (const name of ['problem', 'answer'] as const) {
    const { value, reason } = readField(rec, mapping[name], index);
    const from = JSON.stringify(mapping[name].from);
    if (reason) return { ok: false, reason: `"${name}" (from ${from}) ${reason}` };
    if (value === undefined) return { ok: false, reason: `missing "${name}" (from ${from})` };
    if (value.trim() === '') return { ok: false, reason: `empty "${name}" (from ${from})` };
    fields[name] = value;
  }
  const idRead = mapping.id ? readField(rec, mapping.id, index) : {};
  const id = idRead.value && idRead.value.trim() !== '' ? idRead.value : `${fallbackIdPrefix}-${index}`;

  const rename = mapping.rename ?? {};
  const omit = new Set(['id', 'problem', 'answer', ...(mapping.omit ?? [])]);
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (k in rename) extra[rename[k]!] = v;
    else if (!omit.has(k)) extra[k] = v;
  }
  Object.assign(extra, mapping.constants ?? {});
  return { ok: true, row: { id, problem: fields.problem, answer: fields.answer, extra } };
}
