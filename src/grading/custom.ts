/**
 * Custom graders: user modules (.ts or .js) loaded by path, called as `(response, row, prompt)`,
 * returning a number or `{ score, ...metrics }` (sync or async). Loaded inside the pool's workers.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isGraderName, unknownGraderError } from './registry.js';
import type { CustomGraderSpec, GradeResult, GraderFn, GraderSpec } from './types.js';

/** `custom grader /abs/path.ts#fn`: the prefix every custom-grader error message carries. */
export function customLabel(spec: CustomGraderSpec): string {
  return `custom grader ${spec.module}#${spec.export ?? 'default'}`;
}

/**
 * Parses a CLI grader argument: a registry name (`math`, `dapo`) stays a string; anything that looks
 * like a path (has `/` or `\`, or ends in .ts/.js/.mjs/.mts/.cjs/.cts), optionally with `#export`,
 * becomes `{ module: absolutePath, export }` (relative to `cwd`). Throws the registry's
 * unknown-grader error (listing valid names) for anything else.
 */
export function parseGraderSpec(arg: string, cwd: string = process.cwd()): GraderSpec {
  if (isGraderName(arg)) return arg;
  const hash = arg.lastIndexOf('#');
  const path = hash > 0 ? arg.slice(0, hash) : arg;
  const exportName = hash > 0 ? arg.slice(hash + 1) : undefined;
  if (!/[/\\]/.test(path) && !/\.[cm]?[jt]s$/.test(path)) {
    throw unknownGraderError(arg);
  }
  return { module: isAbsolute(path) ? path : resolve(cwd, path), ...(exportName ? { export: exportName } : {}) };
}

/**
 * Imports a module file. TypeScript files always go through tsx's `tsImport`: in worker threads
 * on Node 20 an `--import tsx` flag does not reach `import()`, while `tsImport` does.
 */
async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  if (/\.[cm]?ts$/.test(file)) {
    const { tsImport } = await import('tsx/esm/api');
    return unwrapCommonJs((await tsImport(url, import.meta.url)) as Record<string, unknown>);
  }
  return unwrapCommonJs((await import(url)) as Record<string, unknown>);
}

/**
 * The ES exports of a module namespace. Outside an ESM package (no `"type": "module"` above it) tsx
 * compiles a `.ts` file to CommonJS, and `import()` then yields `{ default: module.exports }` with the
 * real exports (`default`, named ones) inside, marked `__esModule`; those are returned instead.
 */
function unwrapCommonJs(mod: Record<string, unknown>): Record<string, unknown> {
  const inner = mod.default as Record<string, unknown> | null | undefined;
  if (inner !== null && typeof inner === 'object' && inner.__esModule === true) return inner;
  return mod;
}

/**
 * Turns a custom grader's return value into a GradeResult: a finite number `s` gives
 * `{ score: s, correct: s > 0, extracted: null }`; an object needs a finite numeric `score`, keeps
 * its other fields as metrics, and gets `correct` (default `score > 0`) and `extracted` (default
 * null). Throws `<label>: returned ...` for anything else (NaN, strings, missing score).
 */
export function toGradeResult(value: unknown, label: string): GradeResult {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${label}: returned a non-finite score (${value})`);
    return { score: value, correct: value > 0, extracted: null };
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    if (typeof obj.score !== 'number' || !Number.isFinite(obj.score)) {
      throw new Error(`${label}: returned an object whose "score" is not a finite number (${String(obj.score)})`);
    }
    const correct = typeof obj.correct === 'boolean' ? obj.correct : obj.score > 0;
    const extracted = typeof obj.extracted === 'string' ? obj.extracted : null;
    return { ...obj, score: obj.score, correct, extracted };
  }
  throw new Error(
    `${label}: returned ${value === null ? 'null' : typeof value}; expected a number or { score: number, ...metrics }`,
  );
}

/** A batched custom grader, wrapped: one verdict per item, in order. */
export type BatchedGraderFn = (
  items: { response: string; row: Record<string, unknown>; prompt: string }[],
) => Promise<GradeResult[]>;

/** Imports a custom grader module and returns its export, checked to be a function. */
async function loadExport(spec: CustomGraderSpec, label: string): Promise<(...args: unknown[]) => unknown> {
  const name = spec.export ?? 'default';
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(isAbsolute(spec.module) ? spec.module : resolve(spec.module));
  } catch (err) {
    throw new Error(`${label}: cannot load module: ${(err as Error).message}`);
  }
  const fn = mod[name];
  if (fn === undefined) {
    const names = Object.keys(mod).join(', ') || 'none';
    throw new Error(`${label}: module has no export "${name}" (exports: ${names})`);
  }
  if (typeof fn !== 'function') throw new Error(`${label}: export "${name}" is a ${typeof fn}, not a function`);
  return fn as (...args: unknown[]) => unknown;
}

/**
 * Loads a batched custom grader (`batched: true`, TRL's `reward_funcs` form): the export is called
 * as `(responses, rows, prompts)` and must return (or resolve to) an array with one number or
 * `{score, ...metrics}` per response.
 * @throws `custom grader <path>#<export>: ...` when loading fails; the wrapped function throws the
 *   same prefix when the call throws, or returns something other than such an array of that length
 */
export async function loadBatchedGrader(spec: CustomGraderSpec): Promise<BatchedGraderFn> {
  const label = customLabel(spec);
  const fn = await loadExport(spec, label);
  return async (items) => {
    let value: unknown;
    try {
      value = await fn(
        items.map((i) => i.response),
        items.map((i) => i.row),
        items.map((i) => i.prompt),
      );
    } catch (err) {
      throw new Error(`${label}: threw: ${(err as Error)?.message ?? String(err)}`);
    }
    if (!Array.isArray(value) || value.length !== items.length)
      throw new Error(
        `${label}: a batched grader must return an array of ${items.length} scores (one per response), got ${Array.isArray(value) ? `${value.length} items` : typeof value}`,
      );
    return value.map((v, i) => toGradeResult(v, `${label} (item ${i})`));
  };
}

/**
 * Loads a custom grader and wraps it so it always yields a GradeResult (see `toGradeResult`).
 * Throws `custom grader <path>#<export>: ...` when the module fails to load, lacks the export, or
 * the export is not a function; the wrapped function throws the same prefix when a call throws or
 * returns something invalid.
 */
export async function loadCustomGrader(spec: CustomGraderSpec): Promise<GraderFn> {
  const label = customLabel(spec);
  const fn = await loadExport(spec, label);
  return async (response, row, prompt) => {
    let value: unknown;
    try {
      value = await fn(response, row, prompt);
    } catch (err) {
      throw new Error(`${label}: threw: ${(err as Error)?.message ?? String(err)}`);
    }
    return toGradeResult(value, label);
  };
}
