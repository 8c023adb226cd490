/**
 * Numeric and symbolic equality of two scalar answers. Plain numbers (integers, decimals, leading
 * zeros, `3.2e5`, `3.2\times 10^{5}`, `a/b`, `\frac{a}{b}`) are read directly; everything else goes
 * through @cortex-js/compute-engine: closed forms are evaluated numerically (real and imaginary
 * parts), and expressions with free variables are compared at several fixed sample points.
 *
 * The tolerance rule (documented in the README, section "Graders"): there is no blanket relative
 * tolerance, because one lets a policy perturb the last digit (671.03 for 671.02). Two values are
 * equal when they are the same number (exact for literals, 1e-9 relative float noise for evaluated
 * closed forms), or when one side is a decimal written with at least 4 significant digits and the
 * other side, rounded to that many decimals, gives exactly it (`1.5708` for `\frac{\pi}{2}`,
 * `2.778e-6` for `2.7778e-6`; not `3.14` for `\pi`, not `0.3563` for `.35625`, a tie). A row's own
 * absolute tolerance (OlympiadBench `error`) and a caller's explicit `relTol` widen this.
 */
import { ComputeEngine } from '@cortex-js/compute-engine';

/**
 * Extra tolerances on top of the rounding rule: equal when |a-b| <= relTol * max(|a|,|b|) or
 * |a-b| <= absTol. Both default to 0.
 */
export interface Tolerance {
  relTol: number;
  absTol: number;
}

/** The default: no extra slack (the rounding rule and float noise only). */
export const DEFAULT_TOLERANCE: Tolerance = { relTol: 0, absTol: 0 };

/** Relative slack for values computed in floating point (closed forms, sample points). */
export const FLOAT_NOISE = 1e-9;

/** Significant digits a rounded decimal needs before it may stand for a longer value. */
export const MIN_ROUNDED_DIGITS = 4;

let engine: ComputeEngine | null = null;

/** The process-wide compute engine, created on first use (about 0.3 s). */
export function computeEngine(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

/**
 * True when two finite numbers agree within the tolerance (plus `FLOAT_NOISE` relative); equal
 * infinities agree too.
 */
export function closeEnough(a: number, b: number, tol: Tolerance): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const diff = Math.abs(a - b);
  return diff <= Math.max(tol.relTol, FLOAT_NOISE) * Math.max(Math.abs(a), Math.abs(b)) || diff <= tol.absTol;
}

/** A decimal literal as an exact scaled integer: value = int * 10^-scale; `sig` significant digits. */
interface Decimal {
  int: bigint;
  scale: number;
  sig: number;
}

const DEC_RE = new RegExp(
  String.raw`^(-?)(\d*)(?:\.(\d*))?\s*(?:[eE]\s*([+-]?\d+)|(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?)?$`,
);

/**
 * Reads a decimal literal (`-0.0350`, `.5`, `2.778e-6`, `3.2 \times 10^{5}`) exactly; null for
 * anything else (fractions included). `sig` counts written significant digits (`0.0350` has 3).
 */
export function parseDecimal(s: string): Decimal | null {
  const m = DEC_RE.exec(s.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return null;
  const digits = `${m[2]}${m[3] ?? ''}`;
  const exp = Number(m[4] ?? m[5] ?? 0);
  const int = BigInt(digits) * (m[1] ? -1n : 1n);
  const sig = digits.replace(/^0+/, '').length;
  return { int, scale: (m[3] ?? '').length - exp, sig };
}

const abs = (x: bigint) => (x < 0n ? -x : x);

/** a and b as integers at a common scale. */
function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  const up = (d: Decimal) => (scale - d.scale >= 0 ? d.int * 10n ** BigInt(scale - d.scale) : d.int);
  return [up(a), up(b), scale];
}

/**
 * Exact comparison of two decimal literals: the same value, or the shorter one (fewer decimals,
 * at least `MIN_ROUNDED_DIGITS` significant digits and at least one decimal) is the longer one
 * rounded to its decimals (a tie, e.g. 0.3563 for 0.35625, is not).
 */
export function decimalsEqual(a: Decimal, b: Decimal): boolean {
  const [x, y, scale] = align(a, b);
  if (x === y) return true;
  const short = a.scale <= b.scale ? a : b;
  // An integer (scale <= 0) is exact: 1234.4 is not 1234.
  if (short.sig < MIN_ROUNDED_DIGITS || a.scale === b.scale || short.scale <= 0) return false;
  // |x - y| < 0.5 * 10^-short.scale, at the common scale: 2|x-y| < 10^(scale - short.scale).
  return 2n * abs(x - y) < 10n ** BigInt(scale - short.scale);
}

/**
 * True when the decimal literal `d` is the exact value `v` rounded to d's decimals, d having at
 * least `MIN_ROUNDED_DIGITS` significant digits and at least one decimal (an integer is exact), or
 * when `v` equals d up to float noise.
 */
export function roundsTo(v: number, d: Decimal): boolean {
  const dv = Number(d.int) * 10 ** -d.scale;
  if (closeEnough(v, dv, DEFAULT_TOLERANCE)) return true;
  if (d.sig < MIN_ROUNDED_DIGITS || d.scale <= 0 || !Number.isFinite(v)) return false;
  return Math.abs(v - dv) < 0.5 * 10 ** -d.scale * (1 - 1e-7);
}

const NUM = String.raw`-?(?:\d+(?:\.\d*)?|\.\d+)`;
const SCI_RE = new RegExp(
  String.raw`^(${NUM})\s*(?:[eE]\s*([+-]?\d+)|(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?)?$`,
);
const POW10_RE = /^10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$/;
const MIXED_RE = /^(-?)\s*(\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$/;
const FRAC_RE = new RegExp(
  String.raw`^(-?)\s*(?:\\frac\s*\{\s*(${NUM})\s*\}\s*\{\s*(${NUM})\s*\}|(${NUM})\s*/\s*(${NUM}))$`,
);

/**
 * Reads a plain number: integer / decimal (leading zeros allowed: `025` is 25), scientific
 * (`4.4e7`, `3.2 \times 10^{5}`, `10^{-3}`), a fraction of plain numbers (`-\frac{3}{4}`, `3/4`), or a
 * mixed number (`1\frac{4}{5}` is 9/5, as MATH writes it).
 * Returns null for anything else (no evaluation happens here). Never throws.
 */
export function parsePlainNumber(s: string): number | null {
  const t = s.trim();
  let m = SCI_RE.exec(t);
  if (m) return Number(m[1]) * 10 ** Number(m[2] ?? m[3] ?? 0);
  m = POW10_RE.exec(t);
  if (m) return 10 ** Number(m[1]);
  m = MIXED_RE.exec(t);
  if (m) {
    const whole = Number(m[2]);
    const value = whole + Number(m[3]) / Number(m[4]);
    return Number(m[4]) === 0 ? null : m[1] ? -value : value;
  }
  m = FRAC_RE.exec(t);
  if (m) {
    const sign = m[1] ? -1 : 1;
    const num = Number(m[2] ?? m[4]);
    const den = Number(m[3] ?? m[5]);
    return den === 0 ? null : (sign * num) / den;
  }
  return null;
}

const INT_RE = /^(-?)0*(\d+)$/;

/** Exact equality of two integer literals (any length; leading zeros and `-0` allowed). */
function sameInteger(a: RegExpExecArray, b: RegExpExecArray): boolean {
  const zero = (m: RegExpExecArray) => /^0+$/.test(m[2]!);
  if (zero(a) || zero(b)) return zero(a) && zero(b);
  return a[1] === b[1] && a[2] === b[2];
}

type Expr = NonNullable<ReturnType<ComputeEngine['parse']>>;

/** [re, im] of an expression's numeric value, or null when it does not evaluate to a number. */
function numericValue(e: Expr): [number, number] | null {
  const v = e.N();
  const re = v.re;
  const im = v.im;
  if (typeof re !== 'number' || Number.isNaN(re)) return null;
  return [re, typeof im === 'number' && !Number.isNaN(im) ? im : 0];
}

/**
 * Fixed, irrational-ish sample values for free variables (deterministic across runs). Some are
 * large and one is negative: with small points only, step functions agree by accident
 * (`\lfloor (2n-1)/5 \rfloor` and `\lfloor (2n-1)/6 \rfloor` match for n < 3).
 */
/** The values of `ea` and `eb` at each sample point of the free variables `vars` (shifted per variable). */
function* valuesAtSamples(
  ea: Expr,
  eb: Expr,
  vars: string[],
): Generator<[[number, number] | null, [number, number] | null]> {
  for (let k = 0; k < SAMPLES.length; k++) {
    const point: Record<string, number> = {};
    vars.forEach((v, i) => (point[v] = SAMPLES[(k + i) % SAMPLES.length]! + i * 0.1));
    yield [numericValue(ea.subs(point)), numericValue(eb.subs(point))];
  }
}

const SAMPLES = [
  0.5772156649, 1.4142135623, 2.7182818284, 0.3183098862, 1.6180339887, 7.3890560989, 13.7155375, -2.2360679775,
  31.4159265359,
];

/**
 * True when the two scalar LaTeX answers are equal in value: two integer literals must match exactly
 * (an `absTol` >= 1 lifts this); two decimal literals compare exactly (`decimalsEqual`); a decimal
 * literal against an exact value must be that value rounded (`roundsTo`); other values must agree
 * within float noise, widened by `tol`;
 * or both parse with the engine and either evaluate to numbers that agree (real and imaginary part)
 * or, with free variables, agree at every sample point where both are defined (at least two such
 * points needed). Returns false when either side does not parse. Throws only if the engine itself
 * throws unexpectedly (callers catch); it can also run for a long time on adversarial input, which
 * is why graders run in a pool with a timeout.
 */
export function valuesEqual(a: string, b: string, tol: Tolerance = DEFAULT_TOLERANCE): boolean {
  const pa = parsePlainNumber(a);
  const pb = parsePlainNumber(b);
  const da = parseDecimal(a);
  const db = parseDecimal(b);
  if (pa !== null && pb !== null) {
    const ia = INT_RE.exec(a.trim());
    const ib = INT_RE.exec(b.trim());
    if (ia && ib && tol.absTol < 1) return sameInteger(ia, ib);
    if (da && db && decimalsEqual(da, db)) return true;
    if (da && !db && roundsTo(pb, da)) return true;
    if (db && !da && roundsTo(pa, db)) return true;
    return (tol.absTol > 0 || tol.relTol > 0 || (!da && !db)) && closeEnough(pa, pb, tol);
  }
  const ce = computeEngine();
  const ea = ce.parse(a);
  const eb = ce.parse(b);
  if (!ea.isValid || !eb.isValid) return false;
  const vars = [...new Set([...ea.unknowns, ...eb.unknowns])].sort();
  if (vars.length === 0) {
    const va = numericValue(ea);
    const vb = numericValue(eb);
    if (!va || !vb) return ea.isSame(eb);
    if (!Number.isFinite(va[0]) || !Number.isFinite(vb[0])) {
      // Overflow (100000! vs 99999!) is not equality; only written infinities may match.
      return ea.isSame(eb) || (va[0] === vb[0] && a.includes('\\infty') && b.includes('\\infty'));
    }
    const imagOk = closeEnough(va[1], vb[1], { ...tol, absTol: Math.max(tol.absTol, 1e-12) });
    if (da && Math.abs(vb[1]) < 1e-12 && roundsTo(vb[0], da)) return true;
    if (db && Math.abs(va[1]) < 1e-12 && roundsTo(va[0], db)) return true;
    return closeEnough(va[0], vb[0], tol) && imagOk;
  }
  let agreed = 0;
  for (const [va, vb] of valuesAtSamples(ea, eb, vars)) {
    if (!va && !vb) continue;
    if (!va || !vb) return false;
    if (!closeEnough(va[0], vb[0], tol) || !closeEnough(va[1], vb[1], { ...tol, absTol: Math.max(tol.absTol, 1e-9) }))
      return false;
    agreed++;
  }
  return agreed >= 2 || (agreed >= 1 && ea.isSame(eb));
}

/**
 * True when the expressions `a` and `b` (LaTeX) are equal up to a constant non-zero factor (a
 * positive one when `positive`): the ratio a/b is the same at every sample point of their free
 * variables where both are defined and b is non-zero (at least two such points, and at least one
 * free variable). Used to compare equations (`lhs - rhs`) and inequalities. Returns false when
 * either side does not parse; may throw from the engine (callers catch).
 */
export function proportional(a: string, b: string, positive: boolean): boolean {
  const ce = computeEngine();
  const ea = ce.parse(a);
  const eb = ce.parse(b);
  if (!ea.isValid || !eb.isValid) return false;
  const vars = [...new Set([...ea.unknowns, ...eb.unknowns])].sort();
  if (vars.length === 0) return false;
  let ratio: number | null = null;
  let agreed = 0;
  for (const [va, vb] of valuesAtSamples(ea, eb, vars)) {
    if (!va || !vb || !Number.isFinite(va[0]) || !Number.isFinite(vb[0])) continue;
    if (Math.abs(va[1]) > 1e-9 || Math.abs(vb[1]) > 1e-9) return false;
    if (Math.abs(vb[0]) < 1e-12 || Math.abs(va[0]) < 1e-12) {
      if (Math.abs(vb[0]) < 1e-12 && Math.abs(va[0]) < 1e-12) continue;
      return false;
    }
    const r = va[0] / vb[0];
    if (ratio === null) ratio = r;
    else if (!closeEnough(r, ratio, DEFAULT_TOLERANCE)) return false;
    agreed++;
  }
  return agreed >= 2 && ratio !== null && (!positive || ratio > 0);
}
