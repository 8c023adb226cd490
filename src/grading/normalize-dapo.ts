/**
 * DAPO's / Minerva's `normalize_final_answer`, ported rule for rule from verl
 * `verl/utils/reward_score/math_dapo.py` (which copies the Minerva paper, Lewkowycz et al. 2022,
 * appendix D, minus its `'ft'` unit). Kept byte-faithful on purpose: the `dapo` grader must give the
 * reward DAPO trained with, quirks included (e.g. every `"a "` and `"an "` is deleted, and every
 * occurrence of unit words such as `"cm"` or `"sue"` is removed even inside other words).
 */

/** verl's SUBSTITUTIONS, applied in order with plain (all-occurrence) string replacement. */
export const DAPO_SUBSTITUTIONS: ReadonlyArray<readonly [string, string]> = [
  ['an ', ''],
  ['a ', ''],
  ['.$', '$'],
  ['\\$', ''],
  ['\\ ', ''],
  [' ', ''],
  ['mbox', 'text'],
  [',\\text{and}', ','],
  ['\\text{and}', ','],
  ['\\text{m}', '\\text{}'],
];

/** verl's REMOVED_EXPRESSIONS, each deleted everywhere, in order. */
export const DAPO_REMOVED_EXPRESSIONS: readonly string[] = [
  'square',
  'ways',
  'integers',
  'dollars',
  'mph',
  'inches',
  'hours',
  'km',
  'units',
  '\\ldots',
  'sue',
  'points',
  'feet',
  'minutes',
  'digits',
  'cents',
  'degrees',
  'cm',
  'gm',
  'pounds',
  'meters',
  'meals',
  'edges',
  'students',
  'childrentickets',
  'multiples',
  '\\text{s}',
  '\\text{.}',
  '\\text{\ns}',
  '\\text{}^2',
  '\\text{}^3',
  '\\text{\n}',
  '\\text{}',
  '\\mathrm{th}',
  '^\\circ',
  '^{\\circ}',
  '\\;',
  ',\\!',
  '{,}',
  '"',
  '\\dots',
];

/**
 * Normalises a final answer exactly like verl's `normalize_final_answer`: keeps the text after the
 * last `=`, applies the substitutions and removals above, keeps the first `$...$` span, unwraps
 * `\text{}`, `\textbf{}`, `\overline{}`, `\boxed{}`, expands `\fracab` / `\sqrta` shorthand, drops `$`,
 * drops commas from comma-grouped integers, and trims. Python's `.` (any char but `\n`) is written as
 * `[^\n]`; `str.isdigit()` is approximated by ASCII `[0-9]+` (Python also accepts other Unicode
 * digits). Never throws.
 */
export function normalizeDapoAnswer(finalAnswer: string): string {
  const parts = finalAnswer.split('=');
  let s = parts[parts.length - 1]!;
  for (const [before, after] of DAPO_SUBSTITUTIONS) s = s.split(before).join(after);
  for (const expr of DAPO_REMOVED_EXPRESSIONS) s = s.split(expr).join('');

  s = s.replace(/([^\n]*?)(\$)([^\n]*?)(\$)([^\n]*)/g, (_m, _a, _b, inner: string) => `$${inner}$`);
  s = s.replace(/(\\text\{)([^\n]*?)(\})/g, (_m, _a, inner: string) => inner);
  s = s.replace(/(\\textbf\{)([^\n]*?)(\})/g, (_m, _a, inner: string) => inner);
  s = s.replace(/(\\overline\{)([^\n]*?)(\})/g, (_m, _a, inner: string) => inner);
  s = s.replace(/(\\boxed\{)([^\n]*)(\})/g, (_m, _a, inner: string) => inner);

  s = s.replace(/(frac)([^{])([^\n])/g, (_m, _f, a: string, b: string) => `frac{${a}}{${b}}`);
  s = s.replace(/(sqrt)([^{])/g, (_m, _f, a: string) => `sqrt{${a}}`);
  s = s.split('$').join('');

  const noCommas = s.split(',').join('');
  if (/^[0-9]+$/.test(noCommas)) s = noCommas;
  return s.trim();
}
