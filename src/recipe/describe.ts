/**
 * `describeRecipe()`: every recipe key with its type, default and doc, read from the schema (used
 * by `gtr train --help-recipe`).
 */
import type { z } from 'zod';
import { descriptionOf, objectShape, unwrap } from './keys.js';
import { RecipeSchema } from './schema.js';

/** One documented recipe key. */
export interface RecipeKeyDoc {
  /** Dotted key path, e.g. `algorithm.loss.sigma`. */
  key: string;
  /** Short type, e.g. `number`, `integer`, `boolean`, `"constant" | "cosine"`, `string[]`. */
  type: string;
  /** The default value (as in the resolved recipe). */
  default: unknown;
  /** The doc string. */
  doc: string;
  /** True for sections (objects), whose keys follow. */
  section: boolean;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  items?: z.ZodType[];
  options?: z.ZodType[];
  entries?: Record<string, string>;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
}
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Human-readable type of a schema (wrappers other than nullable are transparent). */
export function typeName(s: z.ZodType): string {
  const d = defOf(s);
  switch (d.type) {
    case 'default':
    case 'prefault':
    case 'optional':
      return typeName(d.innerType!);
    case 'nullable':
      return `${typeName(d.innerType!)} | null`;
    case 'number':
      return (d.checks ?? []).some((c) => c._zod.def.format === 'safeint' || c._zod.def.check === 'number_format')
        ? 'integer'
        : 'number';
    case 'enum':
      return Object.values(d.entries ?? {})
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'array':
      return `${typeName(d.element!)}[]`;
    case 'tuple':
      return `[${(d.items ?? []).map(typeName).join(', ')}]`;
    case 'union':
      return (d.options ?? []).map(typeName).join(' | ');
    case 'object': {
      const shape = objectShape(s) ?? {};
      return `{${Object.keys(shape).join(', ')}}`;
    }
    case 'pipe':
      return typeName(unwrap(s));
    default:
      return d.type;
  }
}

function getPath(obj: unknown, path: string[]): unknown {
  return path.reduce<unknown>(
    (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
    obj,
  );
}

/** Every key of the recipe (depth-first, schema order), with type, default and doc. */
export function describeRecipe(): RecipeKeyDoc[] {
  const defaults = RecipeSchema.parse({});
  const out: RecipeKeyDoc[] = [];
  const walk = (shape: Record<string, z.ZodType>, prefix: string[]) => {
    for (const [k, s] of Object.entries(shape)) {
      const path = [...prefix, k];
      const sub = objectShape(s);
      const dflt = getPath(defaults, path);
      out.push({
        key: path.join('.'),
        type: sub ? 'section' : typeName(s),
        default: sub ? undefined : dflt,
        doc: descriptionOf(s) ?? '',
        section: !!sub,
      });
      if (sub) walk(sub, path);
    }
  };
  walk(RecipeSchema.shape as unknown as Record<string, z.ZodType>, []);
  return out;
}

/** `describeRecipe()` as indented text: `key: type = default  # doc`, sections as headers. */
export function formatRecipeHelp(): string {
  return describeRecipe()
    .map((d) => {
      const indent = '  '.repeat(d.key.split('.').length - 1);
      const name = d.key.split('.').pop();
      if (d.section) return `${indent}${name}:${d.doc ? `  # ${d.doc}` : ''}`;
      return `${indent}${name}: ${JSON.stringify(d.default)}  # (${d.type}) ${d.doc}`;
    })
    .join('\n');
}
