/**
 * Differences between two resolved recipes, key by key (`train.lr: 0.0001 -> 0.5`), and replaying
 * recorded differences onto a recipe. Used when a run is resumed with a recipe that is not the one
 * it started with (src/run/resume.ts).
 */
import type { Recipe } from './schema.js';

/** One changed key: its dotted path and both values (lists and null compare as whole values). */
export interface RecipeChange {
  key: string;
  from: unknown;
  to: unknown;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The leaves that differ between `a` and `b` (keys present on one side only count as changed,
 * with `undefined` on the other), in key order of `a` then new keys of `b`.
 */
export function diffRecipes(a: Recipe | Record<string, unknown>, b: Recipe | Record<string, unknown>): RecipeChange[] {
  const out: RecipeChange[] = [];
  const walk = (x: unknown, y: unknown, path: string[]) => {
    if (isPlainObject(x) && isPlainObject(y)) {
      for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) walk(x[k], y[k], [...path, k]);
    } else if (JSON.stringify(x) !== JSON.stringify(y)) {
      out.push({ key: path.join('.'), from: x, to: y });
    }
  };
  walk(a, b, []);
  return out;
}

/**
 * A deep copy of `recipe` with each change's `to` value set at its key (a replay of {@link diffRecipes}).
 * @throws Error on a key segment that would reach an object prototype
 */
export function applyRecipeChanges<T extends object>(recipe: T, changes: readonly RecipeChange[]): T {
  const out = JSON.parse(JSON.stringify(recipe)) as Record<string, unknown>;
  for (const c of changes) {
    const path = c.key.split('.');
    if (path.some((k) => k === '__proto__' || k === 'constructor' || k === 'prototype'))
      throw new Error(`recipe change: invalid key "${c.key}"`);
    let node = out;
    for (const k of path.slice(0, -1)) {
      if (!isPlainObject(node[k]))
        Object.defineProperty(node, k, { value: {}, enumerable: true, writable: true, configurable: true });
      node = node[k] as Record<string, unknown>;
    }
    const last = path.at(-1)!;
    if (c.to === undefined) delete node[last];
    else Object.defineProperty(node, last, { value: c.to, enumerable: true, writable: true, configurable: true });
  }
  return out as T;
}
