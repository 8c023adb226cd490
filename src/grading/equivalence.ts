/**
 * Answer equivalence for the `math` grader: normalise both answers, compare as strings, then
 * structurally (lists / sets / unions order-insensitive; tuples, intervals, matrices element-wise
 * with bracket kinds; `a \pm b` as two answers), as relations (see relations.ts), then scalar
 * values numerically / symbolically (see numeric.ts).
 */
import { isTextAnswer, normalizeAnswer, squash } from './normalize-math.js';
import { DEFAULT_TOLERANCE, proportional, type Tolerance, valuesEqual } from './numeric.js';
import {
  ascending,
  isAssignment,
  isEquation,
  outerEquation,
  parseRelation,
  relationToInterval,
  type Relation,
} from './relations.js';
import { expandPlusMinus, parseStructure, type Structure } from './structure.js';

/**
 * Optional extra tolerance: `relTol` and `absTol` (both default 0; the rounding rule of numeric.ts
 * always applies). OlympiadBench rows pass their `error` as `absTol`.
 */
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
  // Answers are sets: a repeated item counts once (`(3,17,3,7)` listed twice).
  const dedupe = (zs: string[]) => zs.filter((z, i) => zs.findIndex((w) => squash(w) === squash(z)) === i);
  xs = dedupe(xs);
  ys = dedupe(ys);
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
  if (unordered(a) && unordered(b))
    return sameMultiset((a as { items: string[] }).items, (b as { items: string[] }).items, tol, depth);
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

/** True when the structure is an interval / tuple / set / union, i.e. a relation may become one. */
function setLike(s: Structure): boolean {
  return s.kind === 'bracket' || s.kind === 'set' || s.kind === 'union';
}

/** `lhs - rhs` of an equation side pair, as LaTeX. */
const moved = (l: string, r: string) => `(${l})-(${r})`;

/**
 * Equivalence when at least one side is a relation (`pred` = a, `gold` = b), following
 * Math-Verify's rules: a predicted equation against a plain gold keeps its last right side; a gold
 * assignment (`x = 5`) against a plain prediction keeps its right side, but a gold equation that is
 * not an assignment (`a+3z=0`) never equals a plain prediction; two assignments need the same
 * left side; other equations are equal up to a non-zero factor; inequalities are equal up to a
 * positive factor, or as intervals (also against an interval answer).
 */
function relationsEquivalent(
  a: string,
  ra: Relation | null,
  b: string,
  rb: Relation | null,
  tol: Tolerance,
  depth: number,
): boolean {
  const next = depth + 1;
  if (ra && !rb) {
    // A predicted inequality is not read as the gold interval (Math-Verify's default,
    // allow_set_relation_comp=False); the other way round it is.
    return isEquation(ra) && equivalentAt(outerEquation(ra)[1], b, tol, next);
  }
  if (rb && !ra) {
    if (isEquation(rb)) return isAssignment(rb) && equivalentAt(a, outerEquation(rb)[1], tol, next);
    const iv = setLike(parseStructure(a)) ? relationToInterval(rb) : null;
    return iv !== null && equivalentAt(a, iv, tol, next);
  }
  if (!ra || !rb) return false;
  try {
    if (isEquation(ra) && isEquation(rb)) {
      const [la, xa] = outerEquation(ra);
      const [lb, xb] = outerEquation(rb);
      if (isAssignment(ra) && isAssignment(rb)) return sameString(la, lb) && equivalentAt(xa, xb, tol, next);
      if (sameString(la, lb) && equivalentAt(xa, xb, tol, next)) return true;
      return proportional(moved(la, xa), moved(lb, xb), false);
    }
    const ia = relationToInterval(ra);
    const ib = relationToInterval(rb);
    if (ia !== null && ib !== null && equivalentAt(ia, ib, tol, next)) return true;
    const ca = ascending(ra);
    const cb = ascending(rb);
    if (ca && cb && ca.parts.length === 2 && cb.parts.length === 2 && ca.ops[0] === cb.ops[0]) {
      return proportional(moved(ca.parts[1]!, ca.parts[0]!), moved(cb.parts[1]!, cb.parts[0]!), true);
    }
    if (ra.ops.length === 1 && rb.ops.length === 1 && ra.ops[0] === '\\neq' && rb.ops[0] === '\\neq') {
      return proportional(moved(ra.parts[0]!, ra.parts[1]!), moved(rb.parts[0]!, rb.parts[1]!), false);
    }
  } catch {
    return false;
  }
  return false;
}

/** Equivalence of two already-normalised answers, recursing into their structure. */
function equivalentAt(a: string, b: string, tol: Tolerance, depth: number): boolean {
  if (sameString(a, b)) return true;
  if (depth > MAX_DEPTH) return false;
  const pa = expandPlusMinus(a);
  const pb = expandPlusMinus(b);
  if (pa !== a || pb !== b) return equivalentAt(pa, pb, tol, depth + 1);
  const sa = parseStructure(a);
  const sb = parseStructure(b);
  if (sa.kind === 'list' || sb.kind === 'list' || sa.kind === 'union' || sb.kind === 'union') {
    if (sameStructure(sa, sb, tol, depth)) return true;
  }
  const ra = sa.kind === 'list' ? null : parseRelation(a);
  const rb = sb.kind === 'list' ? null : parseRelation(b);
  if (ra || rb) return relationsEquivalent(a, ra, b, rb, tol, depth);
  return sameStructure(sa, sb, tol, depth);
}

/**
 * True when the predicted answer equals the gold answer. Both are normalised (`normalizeAnswer`),
 * then compared: string (case-insensitive for text answers), comma lists / sets / `\cup` unions
 * order-insensitively, tuples and intervals in order with equal bracket kinds (`[0,1)` is not
 * `[0,1]`), matrices cell by cell, `a \pm b` as the two answers, relations as in
 * `relationsEquivalent` (`x = 5` as `5`, but `a+3z=0` never as `0`), and scalars by value (exact,
 * or a decimal rounded to at least 4 significant digits; see numeric.ts; `relTol` / `absTol` widen
 * it) or symbolically. Never throws: an engine failure counts as "not equal".
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
