/**
 * Numeric and symbolic equality of two scalar answers. Plain numbers (integers, decimals, leading
 * zeros, `3.2e5`, `3.2\times 10^{5}`, `a/b`, `\frac{a}{b}`) are read directly; everything else goes
 * through @cortex-js/compute-engine: closed forms are evaluated numerically (real and imaginary
 * parts), and expressions with free variables are compared at several fixed sample points.
 */
import { ComputeEngine } from '@cortex-js/compute-engine';

/** Tolerances: equal when |a-b| <= relTol * max(|a|,|b|) or |a-b| <= absTol. */
export interface Tolerance {
  relTol: number;
  absTol: number;
}

/** The default: relative 1e-4, no absolute slack (so 0 only equals 0). */
export const DEFAULT_TOLERANCE: Tolerance = { relTol: 1e-4, absTol: 0 };

let engine: ComputeEngine | null = null;

/** The process-wide compute engine, created on first use (about 0.3 s). */
export function computeEngine(): ComputeEngine {
  engine ??= new ComputeEngine();
  return engine;
}

/** True when two finite numbers agree within the tolerance; equal infinities agree too. */
export function closeEnough(a: number, b: number, tol: Tolerance): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const diff = Math.abs(a - b);
  return diff <= tol.relTol * Math.max(Math.abs(a), Math.abs(b)) || diff <= tol.absTol;
}

const NUM = String.raw`-?(?:\d+(?:\.\d*)?|\.\d+)`;
const SCI_RE = new RegExp(String.raw`^(${NUM})\s*(?:[eE]\s*([+-]?\d+)|(?:\\times|\\cdot|\*|x)\s*10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?)?$`);
const POW10_RE = /^10\s*\^\s*\{?\s*([+-]?\d+)\s*\}?$/;
const MIXED_RE = /^(-?)\s*(\d+)\s*\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}$/;
const FRAC_RE = new RegExp(String.raw`^(-?)\s*(?:\\frac\s*\{\s*(${NUM})\s*\}\s*\{\s*(${NUM})\s*\}|(${NUM})\s*/\s*(${NUM}))$`);

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

/** Fixed, irrational-ish sample values for free variables (deterministic across runs). */
const SAMPLES = [0.5772156649, 1.4142135623, 2.7182818284, 0.3183098862, 1.6180339887];

/**
 * True when the two scalar LaTeX answers are equal in value: two integer literals must match exactly
 * (a relative tolerance would make 32347 equal 32348; an `absTol` >= 1 lifts this); other plain
 * numbers must agree within tolerance;
 * or both parse with the engine and either evaluate to numbers that agree (real and imaginary part)
 * or, with free variables, agree at every sample point where both are defined (at least two such
 * points needed). Returns false when either side does not parse. Throws only if the engine itself
 * throws unexpectedly (callers catch); it can also run for a long time on adversarial input, which
 * is why graders run in a pool with a timeout.
 */
export function valuesEqual(a: string, b: string, tol: Tolerance = DEFAULT_TOLERANCE): boolean {
  const pa = parsePlainNumber(a);
  const pb = parsePlainNumber(b);
  if (pa !== null && pb !== null) {
    const ia = INT_RE.exec(a.trim());
    const ib = INT_RE.exec(b.trim());
    if (ia && ib && tol.absTol < 1) return sameInteger(ia, ib);
    return closeEnough(pa, pb, tol);
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
    return closeEnough(va[0], vb[0], tol) && closeEnough(va[1], vb[1], { ...tol, absTol: Math.max(tol.absTol, 1e-12) });
  }
  let agreed = 0;
  for (let k = 0; k < SAMPLES.length; k++) {
    const point: Record<string, number> = {};
    vars.forEach((v, i) => (point[v] = SAMPLES[(k + i) % SAMPLES.length]! + i * 0.1));
    const va = numericValue(ea.subs(point));
    const vb = numericValue(eb.subs(point));
    if (!va && !vb) continue;
    if (!va || !vb) return false;
    if (!closeEnough(va[0], vb[0], tol) || !closeEnough(va[1], vb[1], { ...tol, absTol: Math.max(tol.absTol, 1e-9) })) return false;
    agreed++;
  }
  return agreed >= 2 || (agreed >= 1 && ea.isSame(eb));
}
