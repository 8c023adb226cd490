/**
 * Relations in answers: equations (`2x+4y-3=0`), assignments (`x = 5`, `f(x) = 2x`), inequalities
 * and chains (`0 < f(x) < 1`), read at the top level of a normalised answer. The equivalence check
 * compares equations as equations (both sides moved over, equal up to a non-zero factor), keeps the
 * left side of an equation that is not an assignment (gold `a+3z=0` never equals `0`), and turns
 * inequalities into intervals when the other answer is an interval.
 */

/** A relation operator after normalisation (`>=` is `\ge`, `!=` is `\neq`, `\lt` is `<`). */
export type RelOp = '=' | '<' | '>' | '\\le' | '\\ge' | '\\neq';

/** `parts[0] ops[0] parts[1] ops[1] parts[2] ...`, parts trimmed. */
export interface Relation {
  parts: string[];
  ops: RelOp[];
}

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);
const CMD_OPS: ReadonlyArray<readonly [string, RelOp]> = [
  ['\\neq', '\\neq'],
  ['\\le', '\\le'],
  ['\\ge', '\\ge'],
];

/**
 * Splits `s` at its top-level relation operators (outside brackets and `\begin..\end`); null when
 * there is none or a side is empty. Never throws.
 */
export function parseRelation(s: string): Relation | null {
  const parts: string[] = [];
  const ops: RelOp[] = [];
  let depth = 0;
  let env = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      if (s.startsWith('\\begin', i)) env++;
      else if (s.startsWith('\\end', i)) env--;
      const cmd =
        depth === 0 && env === 0
          ? CMD_OPS.find(([t]) => s.startsWith(t, i) && !/[A-Za-z]/.test(s[i + t.length] ?? ''))
          : undefined;
      if (cmd) {
        parts.push(s.slice(start, i).trim());
        ops.push(cmd[1]);
        start = i + cmd[0].length;
        i = start - 1;
        continue;
      }
      const n = s[i + 1];
      if (n !== undefined && OPEN.has(n)) depth++;
      else if (n !== undefined && CLOSE.has(n)) depth--;
      i++;
      continue;
    }
    if (OPEN.has(c)) depth++;
    else if (CLOSE.has(c)) depth--;
    else if (depth === 0 && env === 0 && (c === '=' || c === '<' || c === '>')) {
      parts.push(s.slice(start, i).trim());
      ops.push(c);
      start = i + 1;
    }
  }
  if (ops.length === 0) return null;
  parts.push(s.slice(start).trim());
  return parts.every((p) => p !== '') ? { parts, ops } : null;
}

/** True for `=`-only relations (equations, assignments, `=` chains). */
export function isEquation(r: Relation): boolean {
  return r.ops.every((o) => o === '=');
}

const ASSIGNEE_RE = /^(?:[A-Za-z]|\\[A-Za-z]+)(?:'*)(?:_\{?[A-Za-z0-9,]+\}?)?(?:\s*\([^()=]*\))?$/;

/**
 * True when the relation is an assignment: `=` only, and the left side a single symbol (`x`,
 * `a_n`, `\theta`) or a function application (`f(x)`, `N(n)`), as Math-Verify defines it.
 */
export function isAssignment(r: Relation): boolean {
  return isEquation(r) && onlySymbols(r.parts[0]!);
}

/**
 * True when a left side is built from symbols alone, as Math-Verify's `is_expr_of_only_symbols`:
 * letters (with subscripts), `\theta`-like commands, function applications, tuples `(p,q)`,
 * ratios `A:B`, `\frac{NO}{BO}`, `|AB|`; no number and no power outside subscripts (so `a+3z` and
 * `a^2+b` are not). Stricter than Math-Verify in one way: a sum or difference (`x+y`) is not an
 * assignment either, so gold `x+y=5` never equals a bare `5`.
 */
export function onlySymbols(lhs: string): boolean {
  const l = lhs
    .replace(/\s+/g, '')
    .replace(/_\{[^{}]*\}|_[A-Za-z0-9]/g, '')
    .replace(/\\(?:frac|cdot|left|right)(?![A-Za-z])/g, '')
    .replace(/\\[A-Za-z]+/g, 'a');
  return /[A-Za-z]/.test(l) && /^[A-Za-z(),:|/{}']+$/.test(l);
}

/** An `=` chain reduced to its first left side and last right side (`x = 5+5+1 = 11` -> `x = 11`). */
export function outerEquation(r: Relation): [string, string] {
  return [r.parts[0]!, r.parts[r.parts.length - 1]!];
}

const FLIP: Partial<Record<RelOp, RelOp>> = { '>': '<', '\\ge': '\\le' };

/**
 * An inequality written with `<` / `\le` only (`5 \ge x` -> `x \le 5`, `-x > -1` -> `-1 < -x`);
 * chains must run one way. Null for equations, `\neq`, or mixed directions.
 */
export function ascending(r: Relation): Relation | null {
  if (r.ops.some((o) => o === '=' || o === '\\neq')) return null;
  if (r.ops.every((o) => o === '<' || o === '\\le')) return r;
  if (r.ops.every((o) => o === '>' || o === '\\ge'))
    return { parts: [...r.parts].reverse(), ops: [...r.ops].reverse().map((o) => FLIP[o]!) };
  return null;
}

/**
 * The interval an inequality describes, as LaTeX: `a < x \le b` -> `(a, b]`; `x > 5` -> `(5, \infty)`,
 * `x \le 2` -> `(-\infty, 2]` (the bare side must be a single symbol or function application).
 * Null when the relation is not such an inequality.
 */
export function relationToInterval(r: Relation): string | null {
  const a = ascending(r);
  if (!a) return null;
  const open = (o: RelOp) => (o === '<' ? '(' : '[');
  const close = (o: RelOp) => (o === '<' ? ')' : ']');
  if (a.parts.length === 3) return `${open(a.ops[0]!)}${a.parts[0]}, ${a.parts[2]}${close(a.ops[1]!)}`;
  if (a.parts.length !== 2) return null;
  const bare = (p: string) => ASSIGNEE_RE.test(p.replace(/\s+/g, ''));
  if (bare(a.parts[0]!) && !bare(a.parts[1]!)) return `(-\\infty, ${a.parts[1]}${close(a.ops[0]!)}`;
  if (bare(a.parts[1]!) && !bare(a.parts[0]!)) return `${open(a.ops[0]!)}${a.parts[0]}, \\infty)`;
  return null;
}
