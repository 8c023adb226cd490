/**
 * Work bounds for the `math` grader, read from an answer's structure before any evaluation, so that
 * no short input (`9^{9^9}`, `\sum_{n=1}^{10^7} n`, `\prod_{k=1}^{10^9} k`, twenty `\pm`) ties up a
 * grader until the pool's timeout. Each bound has a defined verdict, stated where it is applied:
 * an answer past a bound is compared by its normalised string only (equal only to the same text).
 */

/** Longest normalised answer (characters) handed to the compute engine. */
export const MAX_ENGINE_CHARS = 400;
/** Most MathJSON nodes of one parsed answer handed to the compute engine. */
export const MAX_ENGINE_NODES = 300;
/** Most decimal digits an intermediate value may have (`2^{3000}` passes, `9^{9^9}` does not). */
export const MAX_DIGITS = 1000;
/** Most terms a `\sum` / `\prod` may iterate over. */
export const MAX_TERMS = 10_000;
/** Largest argument of a factorial / binomial. */
export const MAX_FACTORIAL_ARG = 1000;
/** Most items of a list / set compared element-wise (larger ones compare as sorted strings). */
export const MAX_ITEMS = 32;
/** Most `\pm` / `\mp` signs expanded in one answer (2^3 = 8 answers); more leaves it unexpanded. */
export const MAX_PLUS_MINUS = 3;

type Json = unknown;

/**
 * Operators that state a problem rather than a value (integrals, limits, derivatives): an answer
 * holding one is not evaluated (the engine may integrate numerically for seconds), so it is equal
 * only to the same text.
 */
const UNEVALUATED = new Set(['Integrate', 'NIntegrate', 'Limit', 'NLimit', 'D', 'ND', 'Derivative']);

/**
 * A rough upper bound on log10 |value| of a MathJSON node (a symbol counts as 31.4, the largest
 * sample point); sets `budget.ok = false` when a bound is passed.
 */
function magnitude(node: Json, budget: { nodes: number; ok: boolean }): number {
  if (--budget.nodes < 0) budget.ok = false;
  if (!budget.ok) return Infinity;
  if (typeof node === 'number') return node === 0 || !Number.isFinite(node) ? 0 : Math.log10(Math.abs(node));
  if (typeof node === 'string') {
    // Numbers too long for a double arrive as strings of digits.
    if (/^[+-]?\d+(\.\d*)?$/.test(node)) return node.replace(/^[+-]?0*/, '').split('.')[0]!.length;
    return 1.5;
  }
  if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
    const n = (node as { num?: string }).num;
    return typeof n === 'string' ? n.replace(/[^0-9]/g, '').length : 1.5;
  }
  if (!Array.isArray(node) || node.length === 0) return 1.5;
  const [head, ...args] = node as [Json, ...Json[]];
  if (typeof head === 'string' && UNEVALUATED.has(head)) {
    budget.ok = false;
    return Infinity;
  }
  // `\Gamma(x)` arrives as ["InvisibleOperator", "Gamma", x] before canonical form.
  if (head === 'InvisibleOperator' && args[0] === 'Gamma') return magnitude(['Gamma', ...args.slice(1)], budget);
  const mags = () => args.map((a) => magnitude(a, budget));
  const bound = (m: number) => 10 ** Math.min(m, 300);
  switch (head) {
    case 'Power': {
      const [b, e] = [magnitude(args[0], budget), magnitude(args[1], budget)];
      const digits = bound(e) * Math.max(b, 0.5);
      if (digits > MAX_DIGITS) budget.ok = false;
      return digits;
    }
    case 'Root':
    case 'Sqrt':
      return Math.max(...mags(), 0) / 2 + 0.5;
    case 'Divide':
    case 'Rational':
    case 'Delimiter':
    case 'Negate':
    case 'Abs':
      return Math.max(mags()[0] ?? 0, 0);
    case 'Add':
    case 'Subtract':
      return Math.max(0, ...mags()) + Math.log10(Math.max(args.length, 1));
    case 'Multiply':
      return mags().reduce((s, m) => s + Math.max(m, 0), 0);
    case 'Factorial':
    case 'Factorial2':
    case 'Gamma':
    case 'Fibonacci': {
      const m = magnitude(args[0], budget);
      if (bound(m) > MAX_FACTORIAL_ARG) budget.ok = false;
      return bound(m) * Math.max(m, 1);
    }
    case 'Binomial':
    case 'Choose': {
      const m = Math.max(...mags());
      if (bound(m) > MAX_FACTORIAL_ARG * 10) budget.ok = false;
      return bound(m) * 0.31;
    }
    case 'Sum':
    case 'Product': {
      // ["Sum", body, ["Tuple"|"Limits", var, lo, hi]...]: each range must be short.
      let terms = 1;
      for (const lim of args.slice(1)) {
        if (Array.isArray(lim) && lim.length >= 4) {
          if (lim.slice(2).some((x) => typeof x === 'string' && /Infinity$/.test(x))) budget.ok = false;
          const span = bound(magnitude(lim[2], budget)) + bound(magnitude(lim[3], budget));
          terms *= span;
        }
      }
      if (terms > MAX_TERMS) budget.ok = false;
      const body = magnitude(args[0], budget);
      const digits = head === 'Sum' ? body + Math.log10(Math.max(terms, 1)) : body * terms;
      if (digits > MAX_DIGITS) budget.ok = false;
      return digits;
    }
    default:
      return Math.max(0, ...mags()) + 1;
  }
}

/**
 * True when a parsed answer (its non-canonical MathJSON) is small enough to evaluate: at most
 * `MAX_ENGINE_NODES` nodes, no intermediate value past `MAX_DIGITS` digits (powers towers, huge
 * exponents), no `\sum`/`\prod` over more than `MAX_TERMS` terms or an infinite range, no
 * factorial / Gamma / Fibonacci past `MAX_FACTORIAL_ARG`, no integral, limit or derivative. A
 * linear walk; never throws.
 */
export function withinEngineLimits(json: Json): boolean {
  const budget = { nodes: MAX_ENGINE_NODES, ok: true };
  const m = magnitude(json, budget);
  return budget.ok && m <= MAX_DIGITS;
}
