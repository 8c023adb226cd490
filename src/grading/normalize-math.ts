/**
 * Answer normalisation for the `math` grader: the MATH / lighteval `strip_string` rules plus the
 * Minerva `normalize_final_answer` unit and `\mathrm{}` rules, written to keep the answer parseable
 * as LaTeX (unlike the DAPO rules, which only serve an exact string match).
 *
 * Documented choices: a percent sign (`\%`, `%`, `\text{ percent}`, `pct`) becomes the token `\%`, read by
 * the equivalence check as /100 (README, "Graders"); `^\circ` is dropped (so `90^\circ` equals `90`);
 * a trailing unit (`\text{ cm}`, `\mathrm{~m/s}`, `5 cm`) after a number is dropped, but only when
 * it is made of unit words or short unit symbols (`3\text{ or more}` keeps its words);
 * `x = 5` keeps `5` (done per element by the equivalence check, see relations.ts);
 * `>=`, `<=`, `!=`, `\lt`, `\gt` become `\ge`, `\le`, `\neq`, `<`, `>`; `x \approx 11` keeps `11`
 * (other `\approx` chains are checked by the equivalence check); `x \in [a,b]` keeps `[a,b]`;
 * `p=5,q=2;p=7,q=2` becomes the tuples `(5,2), (7,2)`.
 */

/** Unit words removed after a number (Minerva's list plus common SI / time units). */
const UNIT_WORDS = new Set([
  'square',
  'cubic',
  'sqft',
  'liter',
  'litres',
  'litre',
  'gram',
  'kilograms',
  'kilometers',
  'kilometres',
  'centimeters',
  'centimetres',
  'millimeters',
  'ways',
  'integers',
  'dollars',
  'dollar',
  'mph',
  'inches',
  'inch',
  'ft',
  'feet',
  'foot',
  'hours',
  'hour',
  'hrs',
  'hr',
  'km',
  'units',
  'unit',
  'points',
  'minutes',
  'minute',
  'min',
  'mins',
  'digits',
  'cents',
  'cent',
  'degrees',
  'degree',
  'cm',
  'mm',
  'gm',
  'kg',
  'pounds',
  'meters',
  'meter',
  'metres',
  'meals',
  'edges',
  'students',
  'multiples',
  'seconds',
  'second',
  'sec',
  'days',
  'day',
  'years',
  'year',
  'miles',
  'mile',
  'people',
  'numbers',
  'times',
  'grams',
  'liters',
  'kmh',
  'km/h',
  'm/s',
  'cm^2',
  'cm^3',
  'm^2',
  'm^3',
  'sq',
  'yards',
  'yd',
  'ounces',
  'oz',
  'radians',
  'kelvin',
  'ev',
  'kev',
  'mev',
  'gev',
  'hz',
  'khz',
  'mhz',
  'ghz',
  'nm',
  'um',
  'μm',
  'pc',
  'kpc',
  'mpc',
  'au',
  'ly',
  'arcsec',
  'arcmin',
  'erg',
  'ergs',
  'joules',
  'watts',
  'volts',
  'amps',
]);

const TEXT_CMDS = 'text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mathsf|mbox|operatorname|rm|bf';

const UNICODE: ReadonlyArray<readonly [RegExp, string]> = [
  [/[−–—]/g, '-'],
  [/×/g, '\\times '],
  [/[·⋅]/g, '\\cdot '],
  [/÷/g, '\\div '],
  [/√/g, '\\sqrt'],
  [/π/g, '\\pi '],
  [/∞/g, '\\infty '],
  [/°/g, '^\\circ'],
  [/²/g, '^2'],
  [/³/g, '^3'],
  [/€/g, ''],
  [/≤/g, '\\le '],
  [/≥/g, '\\ge '],
  [/≠/g, '\\neq '],
  [/∪/g, '\\cup '],
  [/∩/g, '\\cap '],
  [/\u00a0/g, ' '],
];

/** Words that are never units: a `\text{}` holding one is prose (`3\text{ or more}`), not a unit. */
const NOT_UNITS = new Set([
  'a',
  'an',
  'and',
  'or',
  'nor',
  'not',
  'no',
  'is',
  'are',
  'was',
  'be',
  'it',
  'its',
  'if',
  'so',
  'but',
  'yes',
  'all',
  'any',
  'the',
  'to',
  'at',
  'of',
  'on',
  'by',
  'for',
  'as',
  'in',
  'may',
  'can',
  'one',
  'two',
  'few',
]);

const PERCENT_WORDS = /^(?:percent|percentage|pct|per\s*cent)$/i;

/**
 * True when a `\text{..}` after a number is a unit: every word a known unit word or a unit symbol of
 * at most 3 letters (`m/s^2`, `km`, `kg m`, `N`), none of them a word such as `or`, `is`, `more`.
 */
function isUnitText(unit: string): boolean {
  const words = unit
    .replace(/\\[A-Za-z]+/g, ' ')
    .split(/[\s~/^.*·\-()0-9]+/)
    .filter((w) => w !== '');
  if (words.length === 0) return /^[\s~/^0-9\-]*$/.test(unit) ? false : true;
  return words.every((w) => {
    const l = w.toLowerCase();
    if (NOT_UNITS.has(l)) return false;
    return UNIT_WORDS.has(l) || l === 'per' || /^[A-Za-zμΩ°]{1,3}$/.test(w);
  });
}

/** Removes a trailing unit written as a text command after something holding a digit. */
function dropTextUnits(s: string, units: string[]): string {
  const re = new RegExp(`^(.*\\S)\\s*\\\\(?:${TEXT_CMDS})\\s*\\{([^{}]*)\\}\\s*(\\^\\{?-?[0-9]\\}?)?\\s*$`);
  for (let guard = 0; guard < 4; guard++) {
    const m = re.exec(s);
    if (!m || !/[0-9]/.test(m[1]!)) break;
    const unit = m[2]!.replace(/~/g, ' ').trim();
    if (PERCENT_WORDS.test(unit)) {
      s = `${m[1]!.trim()}\\%`;
      break;
    }
    if (!/^[A-Za-zμΩ°/.^0-9\-\\ ]*$/.test(unit) || !isUnitText(unit)) break;
    units.unshift(`${unit}${(m[3] ?? '').replace(/[{}]/g, '')}`);
    s = m[1]!.trim();
  }
  return s;
}

/**
 * Removes trailing plain unit words after a number: `5 cm`, `12 minutes`, `3km`. Single letters are
 * never taken for units (`2 n` is an expression).
 */
function dropWordUnits(s: string, units: string[]): string {
  for (let guard = 0; guard < 3; guard++) {
    const m = /^(.*[0-9}])\s*([A-Za-zμ][A-Za-z/^0-9]*)$/.exec(s);
    if (m && PERCENT_WORDS.test(m[2]!)) return `${m[1]!.trim()}\\%`;
    if (!m || !UNIT_WORDS.has(m[2]!.toLowerCase())) break;
    units.unshift(m[2]!);
    s = m[1]!.trim();
  }
  return s;
}

/** Unwraps `\text{..}`-like commands, innermost content kept (one level of nested braces allowed). */
function unwrapTextCommands(s: string): string {
  const re = new RegExp(`\\\\(?:${TEXT_CMDS})\\s*\\{((?:[^{}]|\\{[^{}]*\\})*)\\}`, 'g');
  for (let guard = 0; guard < 4 && re.test(s); guard++) {
    re.lastIndex = 0;
    s = s.replace(re, (_m, inner: string) => inner);
  }
  return s;
}

/** Removes `\boxed{...}` / `\fbox{...}` wrapping the whole answer. */
function unwrapBox(s: string): string {
  const m = /^\\(?:boxed|fbox)\s*\{([\s\S]*)\}$/.exec(s);
  return m ? m[1]!.trim() : s;
}

/**
 * Normalises one answer string (gold or extracted) for the `math` grader. Returns a LaTeX string with
 * single spaces (use `squash` for the string-equality form). Handles: `$`/`\(`/`\[` delimiters, a
 * whole-answer `\boxed{}`, `\dfrac`/`\tfrac`, `\left`/`\right`, spacing commands, `^\circ`, `\%`,
 * `\$`, text commands (`\text`, `\mathrm`, `\mbox`, ...), trailing units, `{,}` and comma/space
 * thousands separators, a trailing period, `.5` -> `0.5`, `\geqslant` -> `\ge`, common Unicode math.
 * Does not evaluate anything and never throws.
 */
export function normalizeAnswer(raw: string): string {
  return normalizeWithUnit(raw).text;
}

/**
 * `normalizeAnswer`, also returning the power of the trailing unit it dropped: '' for none or a
 * plain unit, `^2` for `\text{ cm}^2`, `\mathrm{m^2}` or `square feet`, `^3` for `cubic units`.
 */
export function normalizeWithUnit(raw: string): { text: string; unit: string } {
  const units: string[] = [];
  const text = normalizeInner(raw, units);
  const u = units.join(' ').toLowerCase();
  const powers = [...u.matchAll(/\^\s*\{?\s*(-?\d)/g)].map((m) => `^${m[1]}`);
  if (/\b(?:square|sq)\b/.test(u)) powers.push('^2');
  if (/\bcubic\b/.test(u)) powers.push('^3');
  return { text, unit: units.length > 0 ? powers.join('') || '^1' : '' };
}

function normalizeInner(raw: string, units: string[]): string {
  let s = raw.trim();
  for (const [re, to] of UNICODE) s = s.replace(re, to);
  s = unwrapBox(s);
  if (!s.includes('\\begin')) s = s.replace(/\\\\(?=[A-Za-z]{2,})/g, '\\'); // `\\frac` from doubled escapes
  s = s.replace(/^\\?"(.*?)\\?"$/s, '$1');
  s = s.replace(/\\\$/g, '').replace(/\$/g, '');
  s = s.replace(/\\[()[\]]/g, ' ');
  s = unwrapBox(s.trim());
  s = s.replace(/\\(?:displaystyle|textstyle|scriptstyle)/g, '');
  s = s.replace(/\\[dt]frac/g, '\\frac').replace(/\\[dt]binom/g, '\\binom');
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\s*\./g, '');
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])/g, '');
  s = s.replace(/(\d)\s*,\s*\\!\s*(?=\d{3}(?!\d))/g, '$1'); // 11,\! 111,\! 100: thousands
  s = s.replace(/\\!/g, '');
  s = s.replace(/\\(?:,|;|:|>|quad|qquad|hspace\{[^}]*\})|~|(?<!\\)\\ /g, ' ');
  s = s.replace(/\)\s*(?:or|and)\s*\(/g, '), (');
  s = s.replace(/([_^])\{\s*([A-Za-z0-9])\s*\}/g, '$1$2');
  s = s.replace(/\\geqslant|\\geq(?![A-Za-z])/g, '\\ge').replace(/\\leqslant|\\leq(?![A-Za-z])/g, '\\le');
  s = s.replace(/\\ne(?![A-Za-z])/g, '\\neq');
  s = s.replace(/>=/g, '\\ge ').replace(/<=/g, '\\le ').replace(/!=/g, '\\neq ');
  s = s.replace(/\\lt(?![A-Za-z])/g, '<').replace(/\\gt(?![A-Za-z])/g, '>');
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree/g, '');
  s = s.replace(/\s*(?:\\%|%)/g, '\\%');
  s = s.replace(/\{\s*,\s*\}/g, '');
  s = dropTextUnits(s.trim(), units);
  s = unwrapTextCommands(s);
  s = s.replace(/\s+/g, ' ').trim();
  s = s.replace(/\s+(?:and|or)\s+/gi, ', ');
  s = s.replace(/[.;,]+$/, '').trim();
  s = dropWordUnits(s, units);
  s = s.replace(/(^|[\s{(,\-=])\.(\d)/g, '$10.$2');
  s = approximate(s);
  s = regroupAssignments(s);
  s = s.replace(/^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?\s*\\in(?![A-Za-z])\s*/, ''); // x \in [a,b]
  s = s.replace(/^[([]\s*(\\begin\{([a-zA-Z]*matrix|array)\}[\s\S]*\\end\{\2\})\s*[)\]]$/, '$1');
  if (/^-?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$/.test(s) || /^-?\d{1,3}( \d{3})+(\.\d+)?$/.test(s)) s = s.replace(/[ ,]/g, '');
  return s;
}

/**
 * `\approx` in an answer: `x \approx 11` keeps `11` (a bare symbol on the left, one `\approx`);
 * otherwise the chain is kept, and the equivalence check reads its first part as the answer and
 * the others as checks that must agree with it (`\frac13 \approx 0.33` is 1/3; `3 \approx 4` is no answer).
 */
function approximate(s: string): string {
  const parts = s.split(/\\approx(?![A-Za-z])/);
  if (parts.length !== 2) return s;
  const head = parts[0]!.trim();
  if (head === '' || /^(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?[A-Za-z0-9]+\}?)?$/.test(head)) return parts[1]!.trim();
  return s;
}

/**
 * `p=5,q=2;p=7,q=2` (groups of assignments to the same symbols, in the same order, separated by `;`)
 * as the tuples `(5,2), (7,2)`; anything else unchanged.
 */
function regroupAssignments(s: string): string {
  if (!s.includes(';')) return s;
  const groups = s
    .split(';')
    .map((g) => g.split(',').map((a) => /^\s*([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*([^=]+?)\s*$/.exec(a)));
  if (groups.some((g) => g.length < 2 || g.some((m) => m === null))) return s;
  const names = (g: (RegExpExecArray | null)[]) => g.map((m) => m![1]).join(',');
  if (groups.some((g) => names(g) !== names(groups[0]!))) return s;
  return groups.map((g) => `(${g.map((m) => m![2]).join(',')})`).join(', ');
}

/** The string-equality form of a normalised answer: all whitespace removed. */
export function squash(s: string): string {
  return s.replace(/\s+/g, '');
}

/**
 * True when `s` looks like a text answer (words, not math): letters, spaces and light punctuation
 * only, with a run of at least three letters. Text answers compare case-insensitively and are
 * never handed to the symbolic checker (which would read `no` as n*o).
 */
export function isTextAnswer(s: string): boolean {
  return /^[A-Za-z][A-Za-z\s'.,()-]*$/.test(s) && /[A-Za-z]{3}/.test(s);
}
