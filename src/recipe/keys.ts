/**
 * Walking the recipe schema by key path: unwrapping defaults/pipes, finding the object shape under
 * a path, and reading descriptions. Used by `--set` validation and by `describeRecipe`.
 */
import { closest, distance } from 'fastest-levenshtein';
import type { z } from 'zod';

type AnySchema = z.ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  options?: AnySchema[];
  shape?: Record<string, AnySchema>;
}

function defOf(s: AnySchema): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}

/** Strips default/prefault/optional/nullable/pipe(transform) wrappers. */
export function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const d = defOf(cur);
    if (d.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch'].includes(d.type))
      cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = defOf(d.in).type === 'transform' ? d.out! : d.in;
    else return cur;
  }
}

/** The shape of `s` if (after unwrapping) it is an object, else undefined. */
export function objectShape(s: AnySchema): Record<string, AnySchema> | undefined {
  const u = unwrap(s);
  const d = defOf(u);
  return d.type === 'object' ? (u as unknown as { shape: Record<string, AnySchema> }).shape : undefined;
}

/** Object shapes reachable as options of a union (e.g. `reward.grader`'s `{module, export}`). */
export function unionObjectShapes(s: AnySchema): Record<string, AnySchema>[] {
  const d = defOf(unwrap(s));
  if (d.type !== 'union' || !d.options) return [];
  return d.options.map(objectShape).filter((x): x is Record<string, AnySchema> => x !== undefined);
}

/** The description of `s` or of the first wrapped schema that has one. */
export function descriptionOf(s: AnySchema): string | undefined {
  let cur: AnySchema | undefined = s;
  while (cur) {
    if (cur.description) return cur.description;
    const d = defOf(cur);
    cur = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
  }
  return undefined;
}

/**
 * Keys valid directly under `path` (for objects, and unions with object options), or undefined
 * when `path` does not name a section.
 */
export function keysAt(root: AnySchema, path: string[]): string[] | undefined {
  let cur: AnySchema = root;
  for (const seg of path) {
    const next = shapesOf(cur)
      .map((sh) => (Object.hasOwn(sh, seg) ? sh[seg] : undefined))
      .find((x) => x !== undefined);
    if (!next) return undefined;
    cur = next;
  }
  const shapes = shapesOf(cur);
  return shapes.length ? [...new Set(shapes.flatMap((sh) => Object.keys(sh)))] : undefined;
}

function shapesOf(s: AnySchema): Record<string, AnySchema>[] {
  return [objectShape(s), ...unionObjectShapes(s)].filter((x): x is Record<string, AnySchema> => x !== undefined);
}

/**
 * ` (did you mean "x"?)` for the valid key closest to a mistyped `key` by edit distance, when it is
 * close (at most 2 edits, or a third of the key's length); '' otherwise.
 */
export function didYouMean(key: string, valid: readonly string[]): string {
  if (valid.length === 0) return '';
  const best = closest(key, [...valid]);
  return distance(key, best) <= Math.max(2, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/**
 * Checks that `path` names a key of the schema.
 * @returns undefined when it does, else a message naming the first unknown segment, the closest
 *   valid key when one is close, and the valid keys at that level
 */
export function checkKeyPath(root: AnySchema, path: string[]): string | undefined {
  let cur: AnySchema = root;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const here = path.slice(0, i).join('.');
    const shapes = shapesOf(cur);
    if (shapes.length === 0) return `unknown key "${path.join('.')}": ${here} is not a section`;
    const next = shapes.map((sh) => (Object.hasOwn(sh, seg) ? sh[seg] : undefined)).find((x) => x !== undefined);
    if (!next) {
      const valid = [...new Set(shapes.flatMap((sh) => Object.keys(sh)))];
      return `unknown key "${path.slice(0, i + 1).join('.')}"${didYouMean(seg, valid)} (valid keys${here ? ` under ${here}` : ''}: ${valid.join(', ')})`;
    }
    cur = next;
  }
  return undefined;
}
