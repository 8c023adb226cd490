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
  let i = last.index + last[0].length;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (text[i] !== '{') {
    if (i === last.index + last[0].length) return null;
    const m = /^[^\s$]+/.exec(text.slice(i));
    return m ? { text: m[0], index: last.index } : null;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text[j];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) return { text: text.slice(i + 1, j), index: last.index };
    }
  }
  return null;
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
  let s = line.trim().replace(/^[*_]+|[*_]+$/g, '').trim();
  const minerva = /^the final answer is\s*(.*?)\s*(?:\.\s*I hope it is correct\.?)?$/i.exec(s);
  if (minerva) s = minerva[1]!;
  const box = lastBoxed(s);
  if (box) return box.text.trim();
  return s.replace(/\s*\.$/, '').replace(/\$\s*\.$/, '$').trim();
}

/**
 * The final answer of a response: whichever of the last `\boxed{}`/`\fbox{}` and the last
 * `Answer:` line starts later (an `Answer:` line holding a box yields the box content). Returns
 * null when neither exists or the answer is empty. Does not normalise the answer (see
 * `normalizeAnswer`). Never throws.
 */
export function extractFinalAnswer(response: string): string | null {
  const box = lastBoxed(response);
  const line = lastAnswerLine(response);
  let out: string | null = null;
  if (line && (!box || line.index > box.index)) out = cleanAnswerLine(line.text);
  else if (box) out = box.text.trim();
  return out ? out : null;
}
