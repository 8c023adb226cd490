/**
 * Final-answer extraction from a model response, in Math-Verify's priority order and last match
 * first: the last (outermost) `\boxed{...}` / `\fbox{...}`, an `Answer: ...` line or Minerva's "The
 * final answer is X. I hope it is correct." (whichever comes later), else the answer stated in
 * prose ("the answer is $X$", else the last math span or number of the last sentence holding one).
 * A sentence that names two different values with a hedge word (`3 unless it is 4`), and an answer
 * followed by a correction naming another value (`\boxed{3}. Wait, actually it is 4.`), give none.
 * Every scan is linear in the response length (a 1 MB response costs milliseconds).
 */
import { answersEquivalent } from './equivalence.js';
import { normalizeAnswer, squash } from './normalize-math.js';

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
  const boxes = outerBoxes(text);
  if (boxes === null || boxes.length === 0) return null;
  const b = boxes[boxes.length - 1]!;
  return { text: b.text, index: b.index };
}

/**
 * The outermost boxes of `text` in order (a box inside a box is part of its content, never an
 * answer of its own); null when the last box opened is never closed (a truncated response). One
 * forward pass: each box's brace scan starts where the previous box ended.
 */
function outerBoxes(text: string): (Located & { end: number })[] | null {
  const out: (Located & { end: number })[] = [];
  let from = 0;
  BOX_RE.lastIndex = 0;
  for (;;) {
    BOX_RE.lastIndex = from;
    const m = BOX_RE.exec(text);
    if (!m) break;
    const b = boxAt(text, m);
    if (!b) {
      // `\boxed` with nothing after it is skipped; an unclosed `\boxed{` ends the response's answers.
      if (/^\s*\{/.test(text.slice(m.index + m[0].length, m.index + m[0].length + 64))) return null;
      from = m.index + m[0].length;
      continue;
    }
    out.push(b);
    from = b.end;
  }
  BOX_RE.lastIndex = 0;
  return out;
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

/**
 * Text between two boxes that still joins them into one answer (`\boxed{1} and \boxed{2}`,
 * `$y_1 = \boxed{..}$ and $y_2 = \boxed{..}$`): connectors, math delimiters, and a label `y_2 =`.
 */
function joinsBoxes(gap: string): boolean {
  if (/^[\s,;$]*(?:\\[)\]]|\$)?[\s,;]*(?:and|,|;)?\s*(?:\\[([]|\$)?\s*(?:[A-Za-z](?:_\{?\w+\}?)?\s*=\s*)?$/.test(gap))
    return true;
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
export function finalBoxed(text: string): (Located & { end: number }) | null {
  const all = outerBoxes(text);
  if (all === null || all.length === 0) return null;
  const boxes = [all[all.length - 1]!];
  for (let k = all.length - 2; k >= 0; k--) {
    const b = all[k]!;
    if (!joinsBoxes(text.slice(b.end, boxes[0]!.index))) break;
    boxes.unshift(b);
  }
  const last = boxes[boxes.length - 1]!;
  return { text: boxes.map((b) => b.text.trim()).join(', '), index: last.index, end: last.end };
}

const ANSWER_RE = /Answer\s*:\s*([^\n]+)/gi;

/**
 * The text after the last `Answer:` (case-insensitive, verl's `(?i)Answer\s*:\s*([^\n]+)`), with the
 * index of that match; null when there is none. Raw: no cleaning. Never throws.
 */
export function lastAnswerLine(text: string): (Located & { length: number }) | null {
  let last: RegExpExecArray | null = null;
  for (const m of text.matchAll(ANSWER_RE)) last = m;
  return last ? { text: last[1]!, index: last.index, length: last[0].length } : null;
}

/**
 * Tidies an `Answer:` line's text: markdown emphasis, Minerva's "The final answer is X. I hope it is
 * correct.", a trailing period, and a box inside the line are handled; a sentence goes through
 * `answerInSentence` (null for a hedge).
 */
function cleanAnswerLine(line: string): string | null {
  let s = line
    .trim()
    .replace(/^[*_]+|[*_]+$/g, '')
    .trim();
  const minerva = /^the final answer is\s*/i.exec(s);
  if (minerva) {
    s = s.slice(minerva[0].length);
    const hope = /\s*\.?\s*I hope it is correct/i.exec(s);
    if (hope) s = s.slice(0, hope.index);
  }
  const box = lastBoxed(s);
  if (box) return box.text.trim();
  s = s.replace(/\s*\.?\s*I hope it is correct[\s\S]*$/i, '');
  // A sentence ("The largest $n$ is 34."): the value it states, unless it hedges.
  const words = s.replace(/\$[^$]*\$|\\[A-Za-z]+\s*(?:\{[^{}]*\})?/g, ' ').match(/[A-Za-z]{2,}/g) ?? [];
  const sentence = words.filter((w) => w.length >= 3).length >= 2 || words.some((w) => HEDGE_RE.test(w));
  // A sentence with no value in it (`MR=SRMC`) is taken as written.
  if (sentence && candidates(s).length > 0) return answerInSentence(s);
  return s
    .replace(/\s*\.$/, '')
    .replace(/\$\s*\.$/, '$')
    .trim();
}

/** Longest `Answer:` line read as an answer (characters). */
const MAX_ANSWER_LINE = 2000;

/** How much of the response's end is searched for prose answers and corrections (characters). */
export const PROSE_TAIL_CHARS = 4000;

/**
 * The final answer of a response, or null. Candidates: the final box group (`finalBoxed`), the last
 * `Answer:` line and the last Minerva sentence, the one starting last winning (an `Answer:` line
 * holding a box yields the box content); without any, the answer stated in prose (`proseAnswer`).
 * A correction after the chosen answer (a cue word such as "wait", "actually", "instead", "answer"
 * followed by a value that is not equivalent to it) voids it: null. Does not normalise the answer
 * (see `normalizeAnswer`). Never throws; linear in the response length.
 */
export function extractFinalAnswer(response: string): string | null {
  const box = finalBoxed(response);
  const line = lastAnswerLine(response);
  const minerva = lastMinerva(response);
  let out: string | null = null;
  let end = -1;
  if (minerva && (!box || minerva.index > box.index) && (!line || minerva.index >= line.index)) {
    out = cleanAnswerLine(minerva.text);
    end = minerva.end;
  } else if (line && (!box || line.index > box.index)) {
    // An `Answer:` line longer than any answer is no answer (and bounds the work on it).
    out = line.text.length > MAX_ANSWER_LINE ? null : cleanAnswerLine(line.text);
    end = line.index + line.length;
  } else if (box) {
    out = box.text.trim();
    end = box.end;
  } else {
    // A box opened and never closed is a truncated response: no answer, prose or not.
    return outerBoxes(response) === null ? null : proseAnswer(response);
  }
  if (!out) return null;
  return corrected(response.slice(end), out) ? null : out;
}

const CORRECTION_CUE_RE =
  /\b(?:wait|actually|correction|mistake|instead|oops|sorry|should be|recheck|re-?evaluat\w*|(?:correct|final|real|true) answer|answer (?:is|should be|would be|=))\b/gi;

/**
 * True when the text after a final answer corrects it: the sentence starting at a cue word
 * ("wait", "actually", "mistake", "instead", "the answer is", ...) states a value
 * (`answerInSentence`) not equivalent to `answer`, or hedges. A restatement of the same value is
 * fine, and so is a cue sentence with no value. Reads at most `PROSE_TAIL_CHARS` characters and the
 * first 4 cues.
 */
function corrected(after: string, answer: string): boolean {
  const tail = after.slice(0, PROSE_TAIL_CHARS);
  const a = squash(normalizeAnswer(answer));
  let cues = 0;
  for (const cue of tail.matchAll(CORRECTION_CUE_RE)) {
    if (++cues > 4) break;
    const rest = tail.slice(cue.index);
    const stop = /[.!?](?=\s|$)|\n\s*\n/.exec(rest.replace(SPAN_RE, (m) => m.replace(/[.!?\n]/g, ' ')));
    const sentence = stop ? rest.slice(0, stop.index) : rest;
    if (candidates(sentence).every((c) => isName(c.text))) continue;
    const stated = answerInSentence(sentence);
    if (stated === null) return true;
    if (squash(normalizeAnswer(stated)) !== a && !answersEquivalent(stated, answer)) return true;
  }
  return false;
}

/** The last "The final answer is X. I hope it is correct." (X at most 200 characters), found linearly. */
function lastMinerva(text: string): (Located & { end: number }) | null {
  const hopeRe = /I hope it is correct/gi;
  let hope: RegExpExecArray | null = null;
  for (const m of text.matchAll(hopeRe)) hope = m;
  if (!hope) return null;
  const before = text.slice(Math.max(0, hope.index - 260), hope.index);
  const at = before.toLowerCase().lastIndexOf('the final answer is');
  if (at < 0) return null;
  const x = before
    .slice(at + 'the final answer is'.length)
    .replace(/\s*\.?\s*$/, '')
    .trim();
  if (x.length > 200) return null;
  const index = hope.index - before.length + at;
  return { text: `The final answer is ${x}`, index, end: hope.index + hope[0].length };
}

const SPAN_RE = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([^\n]+?)\\\)|(?<!\\)\$((?:[^$\n\\]|\\[\s\S])+?)\$/g;
/** A number in prose: thousands groups (`7,425,000`), a decimal point or comma (`2,74`), a fraction. */
const NUMBER_RE = /(?<![A-Za-z0-9_.,])-?\d+(?:(?:,\d{3})+(?![\d,])|,\d{1,2}(?![\d,]))?(?:\.\d+)?(?:\/\d+)?(?:\s*%)?/g;

/** Hedge words: a sentence naming two different values with one of these states no answer. */
const HEDGE_RE =
  /\b(?:unless|otherwise|either|maybe|perhaps|possibly|probably|alternatively|might|could|or|if|not|guess|unsure)\b/i;

/** A math span or bare number of a sentence, with its place. */
interface Candidate {
  text: string;
  start: number;
  end: number;
}

/** The math spans and the numbers outside them, in order (`text` is the span's content). */
function candidates(s: string): Candidate[] {
  const out: Candidate[] = [];
  let last = 0;
  const numbers = (from: number, to: number) => {
    for (const m of s.slice(from, to).matchAll(NUMBER_RE))
      out.push({ text: m[0].trim(), start: from + m.index, end: from + m.index + m[0].length });
  };
  for (const m of s.matchAll(SPAN_RE)) {
    numbers(last, m.index);
    out.push({ text: (m[1] ?? m[2] ?? m[3] ?? m[4]!).trim(), start: m.index, end: m.index + m[0].length });
    last = m.index + m[0].length;
  }
  numbers(last, s.length);
  return out;
}

/** A span that names something rather than stating a value: `n`, `x_1`, `\theta`, `f(x)`, `ABC`. */
function isName(t: string): boolean {
  const u = t.replace(/\s+/g, '');
  if (/\d/.test(u) || /^\\(?:pi|infty|varnothing|emptyset)$/.test(u)) return false;
  return /^(?:[A-Za-z]{1,3}|\\[A-Za-z]+)(?:'*)(?:_\{?[A-Za-z0-9]+\}?)?(?:\([A-Za-z,]*\))?$/.test(u);
}

/**
 * The value a sentence states: its candidates (math spans and numbers, names such as `$n$`
 * skipped) grouped where only `,` / `and` / `or` join them (`$3$ or $4$` is the list `3, 4`);
 * with one group (or groups that all normalise alike) that group; with several different groups
 * and a hedge word after the first (`3 unless it is 4`, `3, or maybe 4`), null; else the last group.
 */
export function answerInSentence(s: string): string | null {
  const all = candidates(s);
  const cands = all.filter((c) => !isName(c.text));
  // Only names (`$odd$`, `$x$`): the last one is the answer.
  if (cands.length === 0) return all.length > 0 ? all[all.length - 1]!.text : null;
  const groups: Candidate[][] = [[cands[0]!]];
  for (let k = 1; k < cands.length; k++) {
    const gap = s.slice(cands[k - 1]!.end, cands[k]!.start);
    if (/^\s*(?:,|;)?\s*(?:(?:and|or)\s*)?$/i.test(gap)) groups[groups.length - 1]!.push(cands[k]!);
    else groups.push([cands[k]!]);
  }
  const text = (g: Candidate[]) => g.map((c) => c.text).join(', ');
  const last = groups[groups.length - 1]!;
  if (groups.length > 1) {
    const key = (g: Candidate[]) => squash(normalizeAnswer(text(g)));
    const alike = groups.every((g) => key(g) === key(last));
    if (!alike) {
      // Text between the groups (and after the last) with the candidates cut out.
      let rest = '';
      for (let k = 0; k < groups.length; k++) {
        const g = groups[k]!;
        const next = groups[k + 1];
        rest += ` ${s.slice(g[g.length - 1]!.end, next ? next[0]!.start : s.length)}`;
      }
      if (HEDGE_RE.test(rest)) return null;
    }
  }
  return text(last);
}

/**
 * The answer a response states in prose (no box, no `Answer:` line), read from its last
 * `PROSE_TAIL_CHARS` characters as Math-Verify prioritises: the sentence after the last "final
 * answer is" / "answer is", else the last sentence holding a math span or a number; its value by
 * `answerInSentence` (null for a hedge). Null when there is none.
 */
export function proseAnswer(response: string): string | null {
  const tail = response.slice(-PROSE_TAIL_CHARS);
  // A bare expression with no prose at all (`\frac{10}{9}`) is the answer as written.
  const bare = tail.trim();
  if (bare.length <= 200 && bare === response.trim() && !/[A-Za-z]{3,}/.test(bare.replace(/\\[A-Za-z]+/g, ' ')))
    return bare.replace(/^\$+|\$+$/g, '').trim() || null;
  // Sentence ends outside math: mask spans so their periods and newlines do not split sentences.
  const masked = tail.replace(SPAN_RE, (m) => m.replace(/[.!?\n]/g, ' '));
  const ends: number[] = [];
  for (const m of masked.matchAll(/[.!?](?=\s|$)|\n/g)) ends.push(m.index);
  const sentenceAt = (i: number): string => {
    let lo = 0;
    let hi = tail.length;
    for (const e of ends) {
      if (e < i) lo = e + 1;
      else {
        hi = e;
        break;
      }
    }
    return tail.slice(lo, hi);
  };
  let phrase: RegExpExecArray | null = null;
  for (const m of masked.matchAll(/\banswer\s+(?:is|would be|should be|=)\s*:?/gi)) phrase = m;
  if (phrase) {
    const start = phrase.index + phrase[0].length;
    let hi = tail.length;
    for (const e of ends)
      if (e >= start) {
        hi = e;
        break;
      }
    const found = answerInSentence(tail.slice(start, hi));
    if (found !== null) return found;
    if (candidates(tail.slice(start, hi)).length > 0) return null;
  }
  const all = candidates(tail);
  const cands = all.filter((c) => !isName(c.text));
  const last = cands[cands.length - 1] ?? all[all.length - 1];
  return last ? answerInSentence(sentenceAt(last.start)) : null;
}

/**
 * A looser final answer for text that is not a boxed model response: gold answers written as
 * solutions, and free text. `extractFinalAnswer` first (which reads prose too); else the whole text,
 * trimmed. `latexOnly` skips bare numbers in prose, as Math-Verify's LaTeX-only extraction does.
 * Never throws.
 */
export function extractAnswerLoose(text: string, latexOnly = false): string {
  if (!latexOnly) return extractFinalAnswer(text) ?? text.trim();
  const box = finalBoxed(text);
  const line = lastAnswerLine(text);
  if (box || line) return extractFinalAnswer(text) ?? text.trim();
  const spans = [...text.slice(-PROSE_TAIL_CHARS).matchAll(SPAN_RE)];
  if (spans.length === 0) return text.trim();
  const m = spans[spans.length - 1]!;
  return (m[1] ?? m[2] ?? m[3] ?? m[4]!).trim();
}
