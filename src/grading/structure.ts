/**
 * Structural reading of a normalised answer: comma lists, `\cup` unions, sets `\{..\}`, tuples and
 * intervals (bracket kinds kept), matrices (`\begin{pmatrix}..\end{pmatrix}` and friends). The
 * equivalence check compares these element-wise; scalars go to the numeric / symbolic checks.
 */

import { MAX_PLUS_MINUS } from './limits.js';

/** The shape of an answer. `list` is a bare comma (or `;`) list, e.g. OlympiadBench `69,84`. */
export type Structure =
  | { kind: 'scalar'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'union'; items: string[] }
  | { kind: 'set'; items: string[]; plainBraces?: boolean }
  | { kind: 'bracket'; open: string; close: string; items: string[] }
  | { kind: 'matrix'; rows: string[][] };

const OPEN = new Set(['(', '[', '{']);
const CLOSE = new Set([')', ']', '}']);

/**
 * Splits `s` at every top-level occurrence of `sep` (outside (), [], {} of any pairing, so the
 * comma in `[0,1)` is nested). `sep` may be a LaTeX command such as `\cup`; it then must not be
 * followed by a letter. Items are trimmed. Never throws (unbalanced input splits at depth <= 0).
 */
export function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  const isCmd = sep.startsWith('\\');
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && !s.startsWith(sep, i)) {
      i++; // skip the escaped char: `\{` still counts below via the brace itself
      const n = s[i];
      if (n !== undefined && OPEN.has(n)) depth++;
      else if (n !== undefined && CLOSE.has(n)) depth--;
      continue;
    }
    if (OPEN.has(c)) depth++;
    else if (CLOSE.has(c)) depth--;
    else if (depth <= 0 && s.startsWith(sep, i) && !(isCmd && /[A-Za-z]/.test(s[i + sep.length] ?? ''))) {
      out.push(s.slice(start, i).trim());
      start = i + sep.length;
      i = start - 1;
    }
  }
  out.push(s.slice(start).trim());
  return out;
}

/** Index of the bracket closing the one at `open`, or -1. Escaped braces `\{`/`\}` count as one. */
function matchingClose(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    let c = s[i]!;
    if (c === '\\' && i + 1 < s.length && (OPEN.has(s[i + 1]!) || CLOSE.has(s[i + 1]!))) c = s[++i]!;
    if (OPEN.has(c)) depth++;
    else if (CLOSE.has(c)) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

const MATRIX_RE = /^\\begin\{([pbvBV]?matrix|smallmatrix|array)\}(?:\{[^}]*\})?([\s\S]*)\\end\{\1\}$/;

/**
 * Reads the top-level shape of a normalised answer. Order: matrix, union (`\cup`), list (top-level
 * `,` or `;`), set `\{...\}`, bracket `(..)`/`[..]`/mixed with a top-level comma inside (a tuple or
 * an interval; `(x+1)` without a comma is a scalar), else scalar. Never throws.
 */
export function parseStructure(s: string): Structure {
  const t = s.trim();
  const mat = MATRIX_RE.exec(t);
  if (mat) {
    const rows = splitTopLevel(mat[2]!.trim(), '\\\\').filter((r) => r !== '');
    return { kind: 'matrix', rows: rows.map((r) => splitTopLevel(r, '&')) };
  }
  const union = splitTopLevel(t, '\\cup');
  if (union.length > 1) return { kind: 'union', items: union };
  let list = splitTopLevel(t, ',');
  if (list.length === 1) list = splitTopLevel(t, ';');
  if (list.length > 1) return { kind: 'list', items: list.filter((x) => x !== '') };
  if (t.startsWith('\\{') && t.endsWith('\\}') && matchingClose(t, 0) === t.length - 1) {
    const inner = t.slice(2, -2).trim();
    return { kind: 'set', items: inner === '' ? [] : splitTopLevel(inner, ',') };
  }
  // A list in plain braces, `{1, 2, 3}` (LaTeX grouping braces around a comma list read as a set).
  if (t.startsWith('{') && t.endsWith('}') && matchingClose(t, 0) === t.length - 1) {
    const items = splitTopLevel(t.slice(1, -1), ',');
    if (items.length > 1) return { kind: 'set', items, plainBraces: true };
  }
  const open = t[0];
  const close = t[t.length - 1];
  if ((open === '(' || open === '[') && (close === ')' || close === ']') && matchingClose(t, 0) === t.length - 1) {
    let items = splitTopLevel(t.slice(1, -1), ',');
    if (items.length === 1) items = splitTopLevel(t.slice(1, -1), ';'); // (0;-2;6)
    if (items.length > 1) return { kind: 'bracket', open, close, items };
  }
  return { kind: 'scalar', text: t };
}

/**
 * `a \pm b` as the two answers it stands for: each top-level list item holding `\pm` / `\mp`
 * (outside `\begin..\end`) becomes one item per sign choice (`3 \pm 2\sqrt{2}` -> `3 + 2\sqrt{2},
 * 3 - 2\sqrt{2}`; `\pm 2021` -> `2021, -2021`), at most 8 per item (more than `MAX_PLUS_MINUS` signs: unchanged). So `5 \pm 1` is a list, never the
 * number 5. Returns `s` unchanged when it has no `\pm`. Never throws.
 */
export function expandPlusMinus(s: string): string {
  if (!/\\(?:pm|mp)(?![A-Za-z])/.test(s) || /\\begin/.test(s)) return s;
  // Past MAX_PLUS_MINUS signs the answer stays unexpanded and compares as a string only.
  if ((s.match(/\\(?:pm|mp)(?![A-Za-z])/g) ?? []).length > MAX_PLUS_MINUS) return s;
  const expandItem = (item: string): string[] => {
    const m = /\\(pm|mp)(?![A-Za-z])/.exec(item);
    if (!m) return [item];
    const head = item.slice(0, m.index);
    const tail = item.slice(m.index + m[0].length);
    const [first, second] = m[1] === 'pm' ? ['+', '-'] : ['-', '+'];
    const tidy = (x: string) =>
      x
        .replace(/(^|[=(\[{,]\s*)\+\s*/g, '$1')
        .replace(/\s+/g, ' ')
        .trim();
    return [...expandItem(tidy(`${head}${first}${tail}`)), ...expandItem(tidy(`${head}${second}${tail}`))].slice(0, 8);
  };
  return splitTopLevel(s, ',').flatMap(expandItem).join(', ');
}
