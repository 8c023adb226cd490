/**
 * Final-answer extraction from a model response: the last `\boxed{...}` / `\fbox{...}` (brace
 * matched) or the last `Answer: ...` line, whichever comes later in the text.
 */

/** A piece of the response and where it starts (UTF-16 index). */
export interface Located {
  text: string;
  index: number;
}

const BOX_RE = /\\(?:boxed|fbox)(?![A-Za-z])/g;

/**
 * The content of the last `\boxed{...}` or `\fbox{...}` in `text`, brace-matched (nested braces,
 * `\{`/`\}` pairs included), with its start index; also handles the `\boxed 5` form (content up to
 * whitespace or `$`). Returns null when there is no box or the last one is never closed (truncated
 * response). Never throws.
 */
export function lastBoxed(text: string): Located | null {
  let last: RegExpExecArray | null = null;
  for (const m of text.matchAll(BOX_RE)) last = m;
  if (!last) return null;
  return boxAt(text, last);
}

/** The box opened by the match `last` (see `lastBoxed`), with its end index in `end`. */
function boxAt(text: string, last: RegExpExecArray): (Located & { end: number }) | null {
  let i = last.index + last[0].length;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (text[i] !== '{') {
    if (i === last.index + last[0].length) return null;
    const m = /^[^\s$]+/.exec(text.slice(i));
    return m ? { text: m[0], index: last.index, end: i + m[0].length } : null;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return { text: text.slice(i + 1, j), index: last.index, end: j + 1 };
    }
  }
  return null;
}

/** Text between two boxes that still joins them into one answer (`\boxed{1} and \boxed{2}`). */
function joinsBoxes(gap: string): boolean {
  const words = gap.replace(/\\[A-Za-z]+/g, ' ').match(/[A-Za-z]+/g) ?? [];
  return (
    gap.length <= 40 && words.length <= 4 && !/[=0-9]/.test(gap) && !/\n\s*\n/.test(gap) && !/[.!?:]\s+[A-Z]/.test(gap)
  );
}

/**
 * The final boxed answer: the last `\boxed{}` together with the boxes right before it that are
 * separated only by short connecting text (`\boxed{(2,2)} \text{ and } \boxed{(6,2)}`,
 * `\boxed{1}, \boxed{2}`), joined with `, ` into one list answer; null when there is no closed box.
 * Never throws.
 */
export function finalBoxed(text: string): Located | null {
  const matches = [...text.matchAll(BOX_RE)];
  const boxes: (Located & { end: number })[] = [];
  for (let k = matches.length - 1; k >= 0; k--) {
    const b = boxAt(text, matches[k]!);
    if (!b) {
      if (boxes.length === 0) return null;
      break;
    }
    if (boxes.length > 0 && (b.end > boxes[0]!.index || !joinsBoxes(text.slice(b.end, boxes[0]!.index)))) break;
    boxes.unshift(b);
  }
  if (boxes.length === 0) return null;
  return { text: boxes.map((b) => b.text.trim()).join(', '), index: boxes[boxes.length - 1]!.index };
}

const ANSWER_RE = /Answer\s*:\s*([^\n]+)/gi;

/**
 * The text after the last `Answer:` (case-insensitive, verl's `(?i)Answer\s*:\s*([^\n]+)`), with the
 * index of that match; null when there is none. Raw: no cleaning. Never throws.
 */
export function lastAnswerLine(text: string): Located | null {
  let last: RegExpExecArray | null = null;
  for (const m of text.matchAll(ANSWER_RE)) last = m;
  return last ? { text: last[1]!, index: last.index } : null;
}

/**
 * Tidies an `Answer:` line's text: markdown emphasis, Minerva's "The final answer is X. I hope it is
 * correct.", a trailing period, and a box inside the line are handled.
 */
function cleanAnswerLine(line: string): string {
  let s = line
    .trim()
    .replace(/^[*_]+|[*_]+$/g, '')
    .trim();
  const minerva =
    /^the final answer is\s*([\s\S]*?)\s*\.?\s*I hope it is correct/i.exec(s) ??
    /^the final answer is\s*([\s\S]*?)\s*$/i.exec(s);
  if (minerva) s = minerva[1]!;
  const box = lastBoxed(s);
  if (box) return box.text.trim();
  s = s.replace(/\s*\.?\s*I hope it is correct[\s\S]*$/i, '');
  // A sentence ("The largest $n$ is 34."): its last math span or number is the answer.
  const words = s.replace(/\$[^$]*\$|\\[A-Za-z]+\s*(?:\{[^{}]*\})?/g, ' ').match(/[A-Za-z]{3,}/g) ?? [];
  if (words.length >= 2) {
    const found = lastSpanOrNumber(s, false);
    if (found) return found.text;
  }
  return s
    .replace(/\s*\.$/, '')
    .replace(/\$\s*\.$/, '$')
    .trim();
}

/**
 * The final answer of a response: whichever of the last `\boxed{}`/`\fbox{}` and the last
 * `Answer:` line starts later (an `Answer:` line holding a box yields the box content). Returns
 * null when neither exists or the answer is empty. Does not normalise the answer (see
 * `normalizeAnswer`). Never throws.
 */
export function extractFinalAnswer(response: string): string | null {
  const box = finalBoxed(response);
  const line = lastAnswerLine(response);
  const minerva = lastMinerva(response);
  let out: string | null = null;
  if (minerva && (!box || minerva.index > box.index) && (!line || minerva.index >= line.index))
    out = cleanAnswerLine(minerva.text);
  else if (line && (!box || line.index > box.index)) out = cleanAnswerLine(line.text);
  else if (box) out = box.text.trim();
  return out ? out : null;
}

const MINERVA_RE = /The final answer is\s*([\s\S]*?)\s*\.?\s*I hope it is correct/gi;

/** Minerva's closing sentence anywhere: "The final answer is X. I hope it is correct." (X raw). */
function lastMinerva(text: string): Located | null {
  let last: RegExpExecArray | null = null;
  for (const m of text.matchAll(MINERVA_RE)) last = m;
  return last && last[1]!.length <= 200 ? { text: `The final answer is ${last[1]!}`, index: last.index } : null;
}

const SPAN_RE = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([^\n]+?)\\\)|(?<!\\)\$((?:[^$\n\\]|\\[\s\S])+?)\$/g;
const NUMBER_RE = /-?\d[\d,]*(?:\.\d+)?(?:\/\d+)?\s*%?/g;

/**
 * A looser final answer for text that is not a boxed model response: gold answers written as
 * solutions, and free text (Math-Verify's suite). `extractFinalAnswer` first; else, in the sentence
 * before "I hope it is correct" when there is one (else the whole text), whichever comes later of
 * the last math span (`$..$` on one line, `$$..$$`, `\[..\]`, `\(..\)`) and the last number; else the
 * whole text, trimmed (`latexOnly` skips the bare-number reading, as Math-Verify's LaTeX-only
 * extraction does). Not used for rewards (a policy must box or state its answer). Never throws.
 */
export function extractAnswerLoose(text: string, latexOnly = false): string {
  const strict = extractFinalAnswer(text);
  if (strict !== null) return strict;
  const hope = /I hope it is correct/i.exec(text);
  let region = text;
  if (hope) {
    const before = text.slice(0, hope.index).replace(/[\s.]+$/, '');
    region = before.slice(Math.max(before.lastIndexOf('. '), before.lastIndexOf('\n')) + 1);
  }
  const found = lastSpanOrNumber(region, latexOnly);
  if (found !== null && found.kind === 'span') return found.text;
  const plain = text.trim();
  const words = plain.replace(/\\[A-Za-z]+/g, ' ').match(/[A-Za-z]{3,}/g) ?? [];
  if (words.length === 0) return plain; // bare math, e.g. `\frac{10}{9}`
  return found?.text ?? plain;
}

/**
 * In `region`, whichever comes later of the last math span (spans joined by `and` / `or` / `,`
 * form one answer) and, unless `latexOnly`, the last number; null when there is neither.
 */
function lastSpanOrNumber(region: string, latexOnly: boolean): { text: string; kind: 'span' | 'number' } | null {
  let span: Located | null = null;
  const spans = [...region.matchAll(SPAN_RE)];
  if (spans.length > 0) {
    // Spans joined by `and` / `or` / `,` form one answer (`$21,16$ or $11$`).
    let k = spans.length - 1;
    const parts = [spans[k]!];
    while (
      k > 0 &&
      /^\s*,?\s*(?:and|or|,)\s*$/.test(region.slice(spans[k - 1]!.index + spans[k - 1]![0].length, spans[k]!.index))
    )
      parts.unshift(spans[--k]!);
    const last = spans[spans.length - 1]!;
    span = {
      text: parts.map((m) => (m[1] ?? m[2] ?? m[3] ?? m[4]!).trim()).join(', '),
      index: last.index + last[0].length,
    };
  }
  let num: Located | null = null;
  if (!latexOnly) for (const m of region.matchAll(NUMBER_RE)) num = { text: m[0].trim(), index: m.index };
  if (span && (!num || span.index >= num.index)) return { text: span.text, kind: 'span' };
  return num ? { text: num.text, kind: 'number' } : null;
}
