/**
 * Numeric command-line flags, parsed strictly: `--seed xyz`, `--n 2.5` or `--max-new-tokens 1e99`
 * are errors naming the flag, never a silent 0 / NaN / huge allocation. Usable as commander
 * argument parsers (`.option('--n <n>', 'doc', intFlag('--n', { min: 1 }), 1)`) or called directly.
 */

/** Bounds of a numeric flag (inclusive). */
export interface FlagRange {
  min?: number;
  max?: number;
}

function rangeText(r: FlagRange): string {
  if (r.min !== undefined && r.max !== undefined) return ` in [${r.min}, ${r.max}]`;
  if (r.min !== undefined) return ` >= ${r.min}`;
  if (r.max !== undefined) return ` <= ${r.max}`;
  return '';
}

/**
 * A parser of an integer flag (any numeral whose value is a safe integer: `12`, `1e3`).
 * @throws Error `<flag> must be an integer >= min, got "<value>"` for anything else.
 */
export function intFlag(flag: string, range: FlagRange = {}): (value: string) => number {
  return numeric(flag, range, 'an integer', Number.isSafeInteger);
}

/**
 * A parser of a finite number flag.
 * @throws Error `<flag> must be a number >= min, got "<value>"` for anything else (empty, NaN, Infinity).
 */
export function numberFlag(flag: string, range: FlagRange = {}): (value: string) => number {
  return numeric(flag, range, 'a number', Number.isFinite);
}

/** The parser both use: `valid` decides the kind (`what` names it in the error), then the range. */
function numeric(
  flag: string,
  range: FlagRange,
  what: string,
  valid: (v: number) => boolean,
): (value: string) => number {
  return (value: string) => {
    const v = value.trim() === '' ? Number.NaN : Number(value);
    const ok = valid(v) && (range.min === undefined || v >= range.min) && (range.max === undefined || v <= range.max);
    if (!ok) throw new Error(`${flag} must be ${what}${rangeText(range)}, got "${value}"`);
    return v;
  };
}

/** Seeds: non-negative safe integers (the native samplers take them as 64-bit unsigned). */
export const seedFlag = (flag = '--seed') => intFlag(flag, { min: 0 });

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/**
 * A parser of a boolean flag's value: true / 1 / yes / on and false / 0 / no / off, any case.
 * @throws Error `<flag> must be true or false (also 1/0, yes/no, on/off), got "<value>"` for anything else
 */
export function boolFlag(flag: string): (value: string) => boolean {
  return (value: string) => {
    const v = value.trim().toLowerCase();
    if (TRUE_WORDS.has(v)) return true;
    if (FALSE_WORDS.has(v)) return false;
    throw new Error(`${flag} must be true or false (also 1/0, yes/no, on/off), got "${value}"`);
  };
}
