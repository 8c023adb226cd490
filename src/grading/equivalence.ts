/**
 * Answer equivalence for the `math` grader: normalise both answers, compare as strings, then
 * structurally (lists / sets / unions order-insensitive; tuples, intervals, matrices element-wise
 * with bracket kinds), then scalar values numerically / symbolically (see numeric.ts).
 */
import { isTextAnswer, normalizeAnswer, squash } from './normalize-math.js';
import { DEFAULT_TOLERANCE, type Tolerance, valuesEqual } from './numeric.js';
import { parseStructure, stripLeftSide, type Structure } from './structure.js';

/** Optional tolerance overrides: `relTol` (default 1e-4) and `absTol` (default 0). */
export interface EquivalenceOptions {
  relTol?: number;
  absTol?: number;
}

const MAX_DEPTH = 6;

/** String equality of normalised answers; text answers (see `isTextAnswer`) ignore case. */
function sameString(a: string, b: string): boolean {
  const sa = squash(a);
  const sb = squash(b);
  if (sa === sb) return true;
  if (isTextAnswer(a) && isTextAnswer(b)) return sa.toLowerCase() === sb.toLowerCase();
  return false;
}

/** Unordered comparison: a perfect matching of equivalent items (augmenting paths; n is small). */
function sameMultiset(xs: string[], ys: string[], tol: Tolerance, depth: number): boolean {
  if (xs.length !== ys.length) return false;
  const eq = xs.map((x) => ys.map((y) => equivalentAt(x, y, tol, depth + 1)));
  const owner = new Array<number>(ys.length).fill(-1);
  const tryAssign = (i: number, seen: boolean[]): boolean => {
    for (let j = 0; j < ys.length; j++) {
      if (!eq[i]![j] || seen[j]) continue;
      seen[j] = true;
      if (owner[j] === -1 || tryAssign(owner[j]!, seen)) {
        owner[j] = i;
        return true;
      }
    }
    return false;
  };
  return xs.every((_, i) => tryAssign(i, new Array<boolean>(ys.length).fill(false)));
}

/** Ordered comparison, element by element. */
function sameSequence(xs: string[], ys: string[], tol: Tolerance, depth: number): boolean {
  return xs.length === ys.length && xs.every((x, i) => equivalentAt(x, ys[i]!, tol, depth + 1));
}

function sameStructure(a: Structure, b: Structure, tol: Tolerance, depth: number): boolean {
  const unordered = (s: Structure) => s.kind === 'list' || s.kind === 'set';
  if (unordered(a) && unordered(b)) return sameMultiset((a as { items: string[] }).items, (b as { items: string[] }).items, tol, depth);
  if (a.kind === 'union' && b.kind === 'union') return sameMultiset(a.items, b.items, tol, depth);
  if (a.kind === 'bracket' && b.kind === 'bracket') {
    return a.open === b.open && a.close === b.close && sameSequence(a.items, b.items, tol, depth);
  }
  if (a.kind === 'matrix' && b.kind === 'matrix') {
    return a.rows.length === b.rows.length && a.rows.every((r, i) => sameSequence(r, b.rows[i]!, tol, depth));
  }
  if (a.kind === 'scalar' && b.kind === 'scalar') {
    if (sameString(a.text, b.text)) return true;
    if (isTextAnswer(a.text) || isTextAnswer(b.text)) return false;
    try {
      return valuesEqual(a.text, b.text, tol);
    } catch {
      return false;
    }
  }
  return false;
}

/** Equivalence of two already-normalised answers, recursing into their structure. */
function equivalentAt(a: string, b: string, tol: Tolerance, depth: number): boolean {
  if (sameString(a, b)) return true;
  if (depth > MAX_DEPTH) return false;
  const sa = parseStructure(a);
  const sb = parseStructure(b);
  if (sa.kind === 'list' || sb.kind === 'list' || sa.kind === 'union' || sb.kind === 'union') {
    if (sameStructure(sa, sb, tol, depth)) return true;
  }
  const ra = stripLeftSide(a);
  const rb = stripLeftSide(b);
  if (ra !== a || rb !== b) return equivalentAt(ra, rb, tol, depth + 1);
  return sameStructure(sa, sb, tol, depth);
}

/**
 * True when the predicted answer equals the gold answer. Both are normalised (`normalizeAnswer`),
 * then compared: string (case-insensitive for text answers), comma lists / sets / `\cup` unions
 * order-insensitively, tuples and intervals in order with equal bracket kinds (`[0,1)` is not
 * `[0,1]`), matrices cell by cell, `x = 5` as `5`, and scalars by value (relative tolerance
 * `relTol`, default 1e-4, or absolute `absTol`) or symbolically. Never throws: an engine failure
 * counts as "not equal".
 */
export function answersEquivalent(pred: string, gold: string, options: EquivalenceOptions = {}): boolean {
  const tol: Tolerance = {
    relTol: options.relTol ?? DEFAULT_TOLERANCE.relTol,
    absTol: options.absTol ?? DEFAULT_TOLERANCE.absTol,
  };
  const a = normalizeAnswer(pred);
  const b = normalizeAnswer(gold);
  if (a === '' || b === '') return false;
  return equivalentAt(a, b, tol, 0);
}
