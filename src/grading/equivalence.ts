/**
 * Answer equivalence for the `math` grader: normalise both answers, compare as strings, then
 * structurally (lists / sets / unions order-insensitive; tuples, intervals, matrices element-wise
 * with bracket kinds; `a \pm b` as two answers), as relations (see relations.ts), then scalar
 * values numerically / symbolically (see numeric.ts).
 */
import { isTextAnswer, normalizeWithUnit, squash } from './normalize-math.js';
import { MAX_ITEMS } from './limits.js';
import {
  beginComparison,
  DEFAULT_TOLERANCE,
  proportional,
  roughlyEqual,
  type Tolerance,
  valuesEqual,
} from './numeric.js';
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
  /**
   * The question asks for a percentage (`percentQuestion`): the gold's bare number is then in
   * percent, so a predicted `p\%` also equals a gold p. Default false: `p\%` is p/100.
   */
  percent?: boolean;
}

/** True when a problem asks for a percentage (it says "percent" or holds a `%`). */
export function percentQuestion(problem: string): boolean {
  return /percent|%/i.test(problem);
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
  if (xs.length > MAX_ITEMS || ys.length > MAX_ITEMS) {
    // Past the bound, items compare as normalised strings (sorted, duplicates once): linear-log work.
    const key = (zs: string[]) => [...new Set(zs.map(squash))].sort().join('\u0000');
    return key(xs) === key(ys);
  }
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
  if (xs.length !== ys.length) return false;
  if (xs.length > MAX_ITEMS) return xs.every((x, i) => squash(x) === squash(ys[i]!));
  return xs.every((x, i) => equivalentAt(x, ys[i]!, tol, depth + 1));
}

function sameStructure(a: Structure, b: Structure, tol: Tolerance, depth: number): boolean {
  const unordered = (s: Structure) => s.kind === 'list' || s.kind === 'set';
  if (unordered(a) && unordered(b))
    return sameMultiset((a as { items: string[] }).items, (b as { items: string[] }).items, tol, depth);
  if (a.kind === 'union' && b.kind === 'union') return sameMultiset(a.items, b.items, tol, depth);
  // A gold set written by the response as a parenthesised tuple of its elements (`(1,3)` for `\{1,3\}`).
  if (a.kind === 'bracket' && a.open === '(' && a.close === ')' && b.kind === 'set')
    return sameMultiset(a.items, b.items, tol, depth);
  // A list grouped in plain TeX braces (`{1,3}`, rendered "1,3") for a gold pair `(1,3)`: in order.
  if (a.kind === 'set' && a.plainBraces && b.kind === 'bracket' && b.open === '(' && b.close === ')')
    return sameSequence(a.items, b.items, tol, depth);
  if (a.kind === 'bracket' && b.kind === 'bracket') {
    return a.open === b.open && a.close === b.close && sameSequence(a.items, b.items, tol, depth);
  }
  if (a.kind === 'matrix' && b.kind === 'matrix') {
    return a.rows.length === b.rows.length && a.rows.every((r, i) => sameSequence(r, b.rows[i]!, tol, depth));
  }
  if (a.kind === 'scalar' && b.kind === 'scalar') {
    if (sameString(a.text, b.text)) return true;
    if (isTextAnswer(a.text) || isTextAnswer(b.text)) return false;
    if (stringOnly(a.text) || stringOnly(b.text)) return false;
    const pa = PERCENT_RE.exec(a.text);
    const pb = PERCENT_RE.exec(b.text);
    if (pa || pb) return samePercent(pa ? pa[1]! : a.text, !!pa, pb ? pb[1]! : b.text, !!pb, tol, depth);
    try {
      return valuesEqual(a.text, b.text, tol);
    } catch {
      return false;
    }
  }
  return false;
}

const PERCENT_RE = /^(.*\S)\s*\\%$/;

/**
 * Percentages (`\%` is /100): a predicted `p\%` equals a gold g when p/100 = g, or when the gold is
 * itself a percentage with p = g's number; a gold `g\%` also takes the bare number g (the gold
 * names the unit) and g/100. So `25\%` is `0.25`, but `3\%` is not `3` and `1000\%` is not `10^3`.
 */
function samePercent(a: string, pctA: boolean, b: string, pctB: boolean, tol: Tolerance, depth: number): boolean {
  const hundredth = (x: string) => `\\frac{${x}}{100}`;
  if (pctA && pctB) return equivalentAt(a, b, tol, depth + 1);
  if (pctA)
    return equivalentAt(hundredth(a), b, tol, depth + 1) || (!!tol.percent && equivalentAt(a, b, tol, depth + 1));
  return equivalentAt(a, b, tol, depth + 1) || equivalentAt(a, hundredth(b), tol, depth + 1);
}

/** Words that make a scalar prose, compared as a string only (`3 is wrong`, `3 or more`, `at least 3`). */
const PROSE_WORD_RE =
  /(?<![A-Za-z\\])(?:is|are|or|and|not|wrong|more|less|than|least|most|maybe|either|unless|wait|answer|approximately|about|only|but|if|then|none|all)(?![A-Za-z])/i;

/**
 * Scalars compared as strings only: an environment that is not a matrix (`cases`, `aligned`: the
 * engine reads `\begin{cases}3\\4\end{cases}` as a block whose value is its last row), a box left
 * inside the answer, and prose (`3 is wrong`).
 */
function stringOnly(t: string): boolean {
  return /\\begin\{|\\(?:boxed|fbox|pm|mp)(?![A-Za-z])/.test(t) || PROSE_WORD_RE.test(t.replace(/\\[A-Za-z]+/g, ' '));
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
  if ((ra && !consistentChain(ra, tol)) || (rb && !consistentChain(rb, tol))) return false;
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

/** Most sides of an `=` chain that are checked; longer chains are no answer. */
const MAX_CHAIN = 6;

/**
 * An `=` chain is an answer only when it is consistent: every side that is a closed value (no free
 * variable) equals the last side, so `x = 2+3 = 5` is 5 but `4 = 3` and `x = 3 = 2` are no answer.
 * Inequalities and relations with free variables on every side are left to the caller.
 */
function consistentChain(r: Relation, tol: Tolerance): boolean {
  if (!isEquation(r)) return true;
  if (r.parts.length > MAX_CHAIN) return false;
  const last = r.parts[r.parts.length - 1]!;
  for (const side of r.parts.slice(0, -1)) {
    // Only closed sides (digits, no letters outside LaTeX commands) are checked.
    if (/[A-Za-z]/.test(side.replace(/\\[A-Za-z]+/g, '')) || !/\d/.test(side)) continue;
    try {
      if (!sameString(side, last) && !valuesEqual(side, last, tol)) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * `a \approx b \approx ...` (not a bare symbol on the left, see normalize-math.ts): the answer is
 * `a`; each later part is a check that must agree with it within 1%, else the chain is no answer
 * (`3 \approx 4`). Returns the answer, null for an inconsistent chain, or `s` itself without `\approx`.
 */
function approxHead(s: string): string | null {
  const parts = s.split(/\\approx(?![A-Za-z])/).map((p) => p.trim());
  if (parts.length < 2) return s;
  if (parts.length > MAX_CHAIN || parts.some((p) => p === '')) return null;
  try {
    return parts.slice(1).every((p) => roughlyEqual(parts[0]!, p, 0.01)) ? parts[0]! : null;
  } catch {
    return null;
  }
}

/**
 * Most element comparisons (`equivalentAt` calls) of one answer comparison: a list of 32 tuples of
 * 32 items against another is 32,768 pairs. Past it, the remaining pairs are unequal (the answer
 * is then equal only where it matched before the budget ran out, which never errs towards reward).
 */
export const MAX_COMPARISONS = 20_000;
let comparisons = 0;

/** Equivalence of two already-normalised answers, recursing into their structure. */
function equivalentAt(a: string, b: string, tol: Tolerance, depth: number): boolean {
  if (sameString(a, b)) return true;
  if (depth > MAX_DEPTH || ++comparisons > MAX_COMPARISONS) return false;
  const ha = approxHead(a);
  const hb = approxHead(b);
  if (ha === null || hb === null) return false;
  if (ha !== a || hb !== b) return equivalentAt(ha, hb, tol, depth + 1);
  const pa = expandPlusMinus(a);
  const pb = expandPlusMinus(b);
  if (pa !== a || pb !== b) return equivalentAt(pa, pb, tol, depth + 1);
  const sa = parseStructure(a);
  const sb = parseStructure(b);
  let tried = false;
  if (sa.kind === 'list' || sb.kind === 'list' || sa.kind === 'union' || sb.kind === 'union') {
    if (sameStructure(sa, sb, tol, depth)) return true;
    tried = true;
  }
  const ra = sa.kind === 'list' ? null : parseRelation(a);
  const rb = sb.kind === 'list' ? null : parseRelation(b);
  if (ra || rb) return relationsEquivalent(a, ra, b, rb, tol, depth);
  return !tried && sameStructure(sa, sb, tol, depth);
}

const DECIMAL_COMMA_RE = /^-?(?:\d+,(?:\d{1,2}|\d{4,})|0,\d+)$/;

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
    percent: options.percent ?? false,
  };
  beginComparison();
  comparisons = 0;
  const na = normalizeWithUnit(pred);
  const nb = normalizeWithUnit(gold);
  let a = na.text;
  let b = nb.text;
  if (a === '' || b === '') return false;
  // Units are dropped, but two stated units must have the same power (`\text{ in}^3` is not `\text{ in}^2`).
  if (na.unit !== '' && nb.unit !== '' && na.unit !== nb.unit) return false;
  // A decimal comma (`1000,99`, `0,111`; not a thousands group) when the other side is one number.
  const plain = /^-?\d+(?:\.\d+)?$/;
  if (DECIMAL_COMMA_RE.test(a) && plain.test(b)) a = a.replace(',', '.');
  else if (DECIMAL_COMMA_RE.test(b) && plain.test(a)) b = b.replace(',', '.');
  return equivalentAt(a, b, tol, 0);
}
