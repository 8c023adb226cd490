/**
 * Numeric and symbolic equality of two scalar answers. Plain numbers (integers, decimals, leading
 * zeros, `3.2e5`, `3.2\times 10^{5}`, `a/b`, `\frac{a}{b}`) are read directly; everything else goes
 * through @cortex-js/compute-engine at 50 significant digits, inside the work bounds of ./limits.ts:
 * closed forms are evaluated (real and imaginary parts), and expressions with free variables are
 * compared at several fixed sample points.
 *
 * The rule (README, "Graders"): no blanket tolerance, because any lets a policy perturb a value
 * (671.03 for 671.02, `2^{40}-1` for `2^{40}`). Integer literals compare exactly; exact values must
 * agree to 40 significant digits, and be the same rational when both are rational; a decimal stands
 * for a value only when it is that value rounded to the decimal's digits, written with at least 4
 * significant digits (`1.5708` for `\frac{\pi}{2}`; not `3.14` for `\pi`, not `999.99999999` for
 * `10^3`, not `0.3563` for `.35625`, a tie). A row's own absolute tolerance (OlympiadBench `error`)
 * and a caller's explicit `relTol` widen this.
 */
import { BigDecimal, ComputeEngine } from '@cortex-js/compute-engine';
import { MAX_ENGINE_CHARS, withinEngineLimits } from './limits.js';

/**
 * Extra tolerances on top of the rounding rule: equal when |a-b| <= relTol * max(|a|,|b|) or
 * |a-b| <= absTol. Both default to 0.
 */
export interface Tolerance {
  relTol: number;
  absTol: number;
  /** The question asks for a percentage: a bare gold number is in percent (equivalence.ts). */
  percent?: boolean;
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
  if (!engine) {
    engine = new ComputeEngine();
    engine.precision = ENGINE_PRECISION;
  }
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

/** Working precision (significant digits) of the compute engine's bignum evaluation. */
export const ENGINE_PRECISION = 50;

/**
 * Relative agreement two exact values need (`EXACT_DIGITS` significant digits at
 * `ENGINE_PRECISION`): `2^{40}-1` is not `2^{40}`, `\frac12+10^{-12}` is not `\frac12`.
 */
export const EXACT_DIGITS = 40;
const EXACT_REL = new BigDecimal(`1e-${EXACT_DIGITS}`);

/**
 * Relative agreement for values the engine computes in machine floats only (a few special
 * functions): 4 ulps. Literals and closed forms of the usual kind are bignums.
 */
const MACHINE_REL = 1e-15;

/** A value as the engine computed it: bignum real and imaginary parts, `machine` when a double. */
interface Value {
  re: BigDecimal;
  im: BigDecimal;
  machine: boolean;
  finite: boolean;
}

/** The numeric value of an expression at `ENGINE_PRECISION` digits, or null when not a number. */
function bigValue(e: Expr): Value | null {
  const v = e.N();
  const nv = (v as unknown as { numericValue: unknown }).numericValue;
  if (nv === undefined || nv === null) return null;
  if (typeof nv === 'number') {
    if (Number.isNaN(nv)) return null;
    if (!Number.isFinite(nv)) return { re: new BigDecimal(0), im: new BigDecimal(0), machine: true, finite: false };
    return { re: new BigDecimal(nv), im: new BigDecimal(0), machine: !Number.isInteger(nv), finite: true };
  }
  const n = nv as { re: number; im: number; bignumRe?: BigDecimal; bignumIm?: BigDecimal; isNaN: boolean };
  if (n.isNaN || Number.isNaN(n.re)) return null;
  const finite = Number.isFinite(n.re) || (n.bignumRe?.isFinite() ?? false);
  if (!finite) return { re: new BigDecimal(0), im: new BigDecimal(0), machine: false, finite: false };
  const re = n.bignumRe ?? new BigDecimal(n.re);
  const im = n.bignumIm ?? new BigDecimal(Number.isNaN(n.im) ? 0 : n.im);
  return { re, im, machine: n.bignumRe === undefined && !Number.isInteger(n.re), finite: true };
}

/** |x - y| within the relative bound of the values' kind, or within `tol`. */
function bigClose(x: BigDecimal, y: BigDecimal, machine: boolean, tol: Tolerance): boolean {
  const diff = x.sub(y).abs();
  if (diff.isZero()) return true;
  const scale = x.abs().gt(y.abs()) ? x.abs() : y.abs();
  const rel = machine
    ? new BigDecimal(Math.max(MACHINE_REL, tol.relTol))
    : tol.relTol > 0
      ? new BigDecimal(tol.relTol)
      : EXACT_REL;
  if (diff.lte(scale.mul(rel))) return true;
  return tol.absTol > 0 && diff.lte(tol.absTol);
}

/** Two engine values agree (real and imaginary parts; near-zero imaginary parts ignored in kind). */
function valuesClose(a: Value, b: Value, tol: Tolerance): boolean {
  if (!a.finite || !b.finite) return false;
  const machine = a.machine || b.machine;
  if (!bigClose(a.re, b.re, machine, tol)) return false;
  const scale = a.re.abs().gt(b.re.abs()) ? a.re.abs() : b.re.abs();
  const floor = scale.mul(machine ? MACHINE_REL : EXACT_REL);
  if (a.im.sub(b.im).abs().lte(floor)) return true;
  return bigClose(a.im, b.im, machine, tol);
}

/**
 * True when the decimal literal `d` stands for the engine value `v`: the same value (to the exact
 * rule's digits), or `v` rounded to d's decimals gives d, d having at least `MIN_ROUNDED_DIGITS`
 * significant digits and at least one decimal. `999.99999999` is not `10^3` (rounded, `10^3` is
 * `1000.00000000`).
 */
function decimalStandsFor(d: Decimal, v: Value): boolean {
  if (!v.finite || !v.im.abs().lte(v.re.abs().mul(EXACT_REL))) return false;
  const dv = new BigDecimal(`${d.int}e${-d.scale}`);
  if (bigClose(dv, v.re, v.machine, DEFAULT_TOLERANCE)) return true;
  if (d.sig < MIN_ROUNDED_DIGITS || d.scale <= 0) return false;
  const half = new BigDecimal(`5e${-d.scale - 1}`);
  return v.re.sub(dv).abs().lt(half);
}

/**
 * Parses an answer for evaluation, or null when it is not valid LaTeX math or is past the work
 * bounds of ./limits.ts (too long, too many nodes, a value with more than `MAX_DIGITS` digits, a
 * sum over too many terms): such an answer is then equal only to the same string.
 */
function parseBounded(s: string): Expr | null {
  if (s.length > MAX_ENGINE_CHARS) return null;
  const hit = cache.parsed.get(s);
  if (hit !== undefined) return hit;
  if (cache.parsed.size >= MAX_CACHED) return null;
  const ce = computeEngine();
  const raw = ce.parse(s, { form: 'raw' });
  const e = withinEngineLimits(raw.json) ? ce.parse(s) : null;
  const out = e && e.isValid ? e : null;
  cache.parsed.set(s, out);
  return out;
}

/**
 * Per-comparison memo (see `beginComparison`): parsed answers, and their values at the sample
 * points, so comparing two lists of n expressions evaluates each expression once, not n times.
 */
const cache = {
  parsed: new Map<string, Expr | null>(),
  samples: new Map<string, (Value | null)[]>(),
  unknowns: new Map<string, readonly string[]>(),
};

/** Most distinct expressions one comparison parses (a list past `MAX_ITEMS` never gets here). */
const MAX_CACHED = 512;

/**
 * Starts one answer comparison (answersEquivalent calls it): clears the memo of the previous one, so
 * memory stays bounded and nothing leaks between items.
 */
export function beginComparison(): void {
  cache.parsed.clear();
  cache.samples.clear();
  cache.unknowns.clear();
}

/** The free variables of `e` (the answer `src`), memoised per comparison. */
function unknownsOf(src: string, e: Expr): readonly string[] {
  let out = cache.unknowns.get(src);
  if (!out) {
    out = [...e.unknowns];
    cache.unknowns.set(src, out);
  }
  return out;
}

/** The values of `e` (the answer `src`) at every sample point of `vars`, memoised per comparison. */
function samplesOf(src: string, e: Expr, vars: string[]): (Value | null)[] {
  const key = `${vars.join(',')}\u0000${src}`;
  let out = cache.samples.get(key);
  if (!out) {
    const ce = computeEngine();
    // Sample points are doubles compared to SAMPLE_REL, so they are evaluated in machine precision
    // (about 10x faster than 50 digits); closed values keep the full precision.
    if (vars.length > 0) ce.precision = 'machine';
    try {
      out = SAMPLES.slice(0, vars.length === 0 ? 1 : SAMPLES.length).map((_, k) => {
        const point: Record<string, number> = {};
        vars.forEach((v, i) => (point[v] = SAMPLES[(k + i) % SAMPLES.length]! + i * 0.1));
        return bigValue(e.subs(point));
      });
    } finally {
      ce.precision = ENGINE_PRECISION;
    }
    cache.samples.set(key, out);
  }
  return out;
}

/**
 * Fixed, irrational-ish sample values for free variables (deterministic across runs). Some are
 * large and one is negative: with small points only, step functions agree by accident
 * (`\lfloor (2n-1)/5 \rfloor` and `\lfloor (2n-1)/6 \rfloor` match for n < 3).
 */
const SAMPLES = [
  0.5772156649, 1.4142135623, 2.7182818284, 0.3183098862, 1.6180339887, 7.3890560989, 13.7155375, -2.2360679775,
  31.4159265359,
];

/** The values of `ea` and `eb` at each sample point of the free variables `vars` (shifted per variable). */
function* valuesAtSamples(
  a: string,
  ea: Expr,
  b: string,
  eb: Expr,
  vars: string[],
): Generator<[Value | null, Value | null]> {
  const xa = samplesOf(a, ea, vars);
  const xb = samplesOf(b, eb, vars);
  for (let k = 0; k < SAMPLES.length; k++) yield [xa[k]!, xb[k]!];
}

/**
 * True when the two scalar LaTeX answers are equal in value. The rule (README, "Graders"):
 * - two integer literals match exactly (an `absTol` >= 1 lifts this);
 * - two decimal literals compare exactly, or the shorter is the longer rounded (`decimalsEqual`);
 * - a decimal literal against any other value must be that value rounded to the decimal's digits,
 *   with at least `MIN_ROUNDED_DIGITS` significant digits (`decimalStandsFor`);
 * - two exact values (integers, fractions, closed forms: `2^{40}-1`, `\binom{40}{20}`, `\sqrt{2}`)
 *   must agree to `EXACT_DIGITS` significant digits, computed at `ENGINE_PRECISION` digits, and
 *   exactly when both evaluate to exact rationals (so an off-by-one of a 60-digit integer is seen);
 * - with free variables, both must agree the same way at every sample point where both are
 *   defined (at least two such points);
 * - `tol` (a row's `error`, a caller's `relTol`) widens all of these.
 * Returns false when either side does not parse or is past the work bounds (./limits.ts). Throws
 * only if the engine itself throws unexpectedly (callers catch).
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
    if (da && db && tol.absTol === 0 && tol.relTol === 0) return false;
  }
  const ea = parseBounded(a);
  const eb = parseBounded(b);
  if (!ea || !eb) return false;
  const vars = [...new Set([...unknownsOf(a, ea), ...unknownsOf(b, eb)])].sort();
  if (vars.length === 0) {
    const va = samplesOf(a, ea, [])[0]!;
    const vb = samplesOf(b, eb, [])[0]!;
    if (!va || !vb) return ea.isSame(eb);
    if (!va.finite || !vb.finite) {
      // Overflow (100000! vs 99999!) is not equality; only written infinities may match.
      return ea.isSame(eb) || (a.includes('\\infty') && b.includes('\\infty') && ea.N().isSame(eb.N()));
    }
    if (da && !db && decimalStandsFor(da, vb)) return true;
    if (db && !da && decimalStandsFor(db, va)) return true;
    if ((da || db) && tol.absTol === 0 && tol.relTol === 0) return false;
    if (!valuesClose(va, vb, tol)) return false;
    // Past the bignum horizon, exact rationals must be the same rational (20! + 1 is not 20!).
    const xa = ea.evaluate();
    const xb = eb.evaluate();
    if (isExactRational(xa) && isExactRational(xb) && tol.absTol === 0 && tol.relTol === 0) return xa.isSame(xb);
    return true;
  }
  let agreed = 0;
  for (const [va, vb] of valuesAtSamples(a, ea, b, eb, vars)) {
    if (!va && !vb) continue;
    if (!va || !vb) return false;
    if (!va.finite && !vb.finite) continue;
    // A cheap double pre-check first (lists compare every pair): far apart is unequal.
    const [da, db] = [va.re.toNumber(), vb.re.toNumber()];
    if (tol.absTol === 0 && Math.abs(da - db) > 1e-6 * Math.max(Math.abs(da), Math.abs(db)) + 1e-300) return false;
    if (!valuesClose(va, vb, { ...tol, relTol: Math.max(tol.relTol, SAMPLE_REL) })) return false;
    agreed++;
  }
  return agreed >= 2 || (agreed >= 1 && ea.isSame(eb));
}

/**
 * Relative agreement at sample points: the sample values are doubles and the engine evaluates some
 * functions of them in doubles, so the exact rule's 40 digits would miss equal expressions.
 */
const SAMPLE_REL = 1e-12;

/** True when `e` is an exact integer or rational number (as `evaluate()` leaves exact arithmetic). */
function isExactRational(e: Expr): boolean {
  const nv = (e as unknown as { numericValue: unknown }).numericValue;
  if (typeof nv === 'number') return Number.isInteger(nv);
  if (nv === undefined || nv === null) return false;
  const n = nv as { isExact?: boolean; im?: number };
  return n.isExact === true && (n.im ?? 0) === 0;
}

/**
 * True when the expressions `a` and `b` (LaTeX) are equal up to a constant non-zero factor (a
 * positive one when `positive`): the ratio a/b is the same at every sample point of their free
 * variables where both are defined and b is non-zero (at least two such points, and at least one
 * free variable). Used to compare equations (`lhs - rhs`) and inequalities. Returns false when
 * either side does not parse; may throw from the engine (callers catch).
 */
export function proportional(a: string, b: string, positive: boolean): boolean {
  const ea = parseBounded(a);
  const eb = parseBounded(b);
  if (!ea || !eb) return false;
  const vars = [...new Set([...unknownsOf(a, ea), ...unknownsOf(b, eb)])].sort();
  if (vars.length === 0) return false;
  let ratio: number | null = null;
  let agreed = 0;
  for (const [xa, xb] of valuesAtSamples(a, ea, b, eb, vars)) {
    if (!xa || !xb || !xa.finite || !xb.finite) continue;
    const va = [xa.re.toNumber(), xa.im.toNumber()] as const;
    const vb = [xb.re.toNumber(), xb.im.toNumber()] as const;
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

/**
 * True when two closed values agree within `rel` relative (for `\approx` checks, not for verdicts).
 * False when either does not evaluate or is past the work bounds; may throw from the engine.
 */
export function roughlyEqual(a: string, b: string, rel: number): boolean {
  const ea = parseBounded(a);
  const eb = parseBounded(b);
  if (!ea || !eb || ea.unknowns.length > 0 || eb.unknowns.length > 0) return false;
  const va = bigValue(ea);
  const vb = bigValue(eb);
  if (!va || !vb || !va.finite || !vb.finite) return false;
  const x = va.re.toNumber();
  const y = vb.re.toNumber();
  return Math.abs(x - y) <= rel * Math.max(Math.abs(x), Math.abs(y));
}
