/**
 * The name-keyed grader registry (`math`, `dapo`, `math_verify`). Custom graders are modules, not registry entries
 * (see custom.ts).
 */
import { dapoGrader } from './dapo-grader.js';
import { mathGrader } from './math-grader.js';
import type { GraderFn } from './types.js';

/** A built-in grader: its function, the score it gives a wrong answer, and a one-line summary. */
export interface GraderEntry {
  name: string;
  fn: GraderFn;
  wrongScore: number;
  description: string;
  /**
   * The rule revision, recorded in eval reports next to the name: bumped whenever a change can flip a
   * verdict, so two reports' numbers are comparable only at equal versions.
   */
  version: string;
}

/** `math_verify` is graded by the Python pool (python-pool.ts), never in a JS worker. */
function pythonOnly(): never {
  throw new Error(
    'the math_verify grader runs in Python worker processes: grade through GraderPool / PythonGraderPool',
  );
}

const GRADERS: ReadonlyMap<string, GraderEntry> = new Map([
  [
    'dapo',
    {
      name: 'dapo',
      version: 'dapo/1 (verl math_dapo, non-strict)',
      fn: dapoGrader,
      wrongScore: -1,
      description: "DAPO's rule: last 300 chars, last Answer: line, exact match after normalisation; +1 / -1",
    },
  ],
  [
    'math',
    {
      name: 'math',
      version: 'math/3 (exact values, % is /100, consistent chains, prose answers without hedges; see README Graders)',
      fn: mathGrader,
      wrongScore: 0,
      description:
        'boxed / Answer: / prose extraction (hedges and corrections give none); string, structural, relation, exact numeric (or 4-digit rounding) and symbolic equivalence within work bounds; 1 / 0',
    },
  ],
  [
    'math_verify',
    {
      name: 'math_verify',
      version: 'math-verify (version reported by the workers)',
      fn: pythonOnly,
      wrongScore: 0,
      description: "Hugging Face's math-verify package (Python worker processes; verl's wrapper rules); 1 / 0",
    },
  ],
]);

/** The registered grader names, sorted. */
export function graderNames(): string[] {
  return [...GRADERS.keys()].sort();
}

/** True when `name` is a registered grader. */
export function isGraderName(name: string): boolean {
  return GRADERS.has(name);
}

/**
 * The registry entry named `name`. Throws `unknown grader "x"; valid graders: dapo, math (or a
 * module path[#export] for a custom grader)` for any other name.
 */
export function getGrader(name: string): GraderEntry {
  const entry = GRADERS.get(name);
  if (!entry) throw unknownGraderError(name);
  return entry;
}

/** The error for an unknown grader name; its message lists the valid names. */
export function unknownGraderError(name: string): Error {
  return new Error(
    `unknown grader "${name}"; valid graders: ${graderNames().join(', ')} (or a module path[#export] for a custom grader)`,
  );
}
