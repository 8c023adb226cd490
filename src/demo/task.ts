/**
 * The demo's synthetic task: seeded two-digit arithmetic problems ("47+38=") with
 * integer gold answers, a train split and a disjoint held-out split, and a short worked response
 * per problem for the SFT warm-up. Rows are the dataset layer's common JSONL rows
 * `{ id, problem, answer }` (plus `solution`, the SFT target, kept by the reader as `row.extra`),
 * so the RL loop reads them through `data.train: <path>.jsonl`.
 *
 * Difficulty mix ({@link PROBLEM_MIX}): 2-digit + 2-digit (60%) and 2-digit - 2-digit with a >= b (40%),
 * prompts rendered with the `plain` template (the problem text as is) and responses that are only
 * DAPO's final line, "Answer: 85": short sequences, so a small model warms up in minutes and RL
 * steps are cheap, while the warmed-up model still gets carries and borrows wrong part of the time.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Xoshiro128, mixSeeds } from '../data/prng.js';

/** One arithmetic problem. */
export interface ArithmeticProblem {
  /** Stable id: `<split>-<index>`. */
  id: string;
  /** "47+38=" */
  problem: string;
  /** Gold answer as a decimal integer string (may be negative). */
  answer: string;
  /** The SFT target: "Answer: 85" (no EOS; the SFT code appends it). */
  solution: string;
  op: '+' | '-' | '*';
  a: number;
  b: number;
}

/** Sizes of the generated splits. */
export interface TaskOptions {
  /** Training problems (SFT warm-up and RL prompts). Default 4000. */
  train?: number;
  /** Held-out problems (evaluation). Default 200. */
  heldOut?: number;
  /** Seed of the whole task. Default 0. */
  seed?: number;
}

/** The two splits; no problem text appears in both. */
export interface TaskSplits {
  train: ArithmeticProblem[];
  heldOut: ArithmeticProblem[];
}

/** A uniform integer in [lo, hi] from the generator. */
function intIn(rng: Xoshiro128, lo: number, hi: number): number {
  return lo + rng.nextInt(hi - lo + 1);
}

/** A uniform d-digit number (d = 1 includes 0). */
function digits(rng: Xoshiro128, d: number): number {
  return intIn(rng, d === 1 ? 0 : 10 ** (d - 1), 10 ** d - 1);
}

/**
 * The problem kinds and their shares: [operator, digits of a, digits of b, share] (a - b is drawn
 * with a >= b). Two-digit addition (with and without carries) and two-digit subtraction (with and
 * without borrows; ~12,900 distinct problems in all): a tiny model learns the format and most
 * digits in a short warm-up but is right only part of the time, mostly on the carry / borrow digit.
 */
export const PROBLEM_MIX: readonly (readonly ['+' | '-' | '*', number, number, number])[] = [
  ['+', 2, 2, 0.6],
  ['-', 2, 2, 0.4],
];

/** The problem text of `a op b`: "12+47=". */
export function problemText(a: number, op: string, b: number): string {
  return `${a}${op}${b}=`;
}

/** The SFT response: only the final DAPO-format line, "Answer: N". */
export function workedSolution(_a: number, _op: string, _b: number, answer: number): string {
  return `Answer: ${answer}`;
}

/** Draws one problem (kind, then operands) from the generator. */
function drawProblem(rng: Xoshiro128): Omit<ArithmeticProblem, 'id'> {
  const total = PROBLEM_MIX.reduce((acc, m) => acc + m[3], 0);
  let u = rng.nextFloat() * total;
  let i = 0;
  for (; i < PROBLEM_MIX.length - 1 && u >= PROBLEM_MIX[i]![3]; i++) u -= PROBLEM_MIX[i]![3];
  const [op, da, db] = PROBLEM_MIX[i]!;
  let a = digits(rng, da);
  let b = digits(rng, db);
  if (op === '-' && a < b) [a, b] = [b, a]; // non-negative differences
  const value = op === '+' ? a + b : op === '-' ? a - b : a * b;
  return { problem: problemText(a, op, b), answer: String(value), solution: workedSolution(a, op, b, value), op, a, b };
}

/**
 * Generates the train and held-out splits. Deterministic in `seed` (same seed, same problems in the
 * same order on any machine). The held-out split is drawn first; training problems whose text is a
 * held-out problem (or an earlier training problem) are redrawn, so the splits are disjoint and
 * each is duplicate-free.
 * @throws Error when the sizes are not non-negative integers or the problem space is exhausted.
 */
export function generateTask(options: TaskOptions = {}): TaskSplits {
  const nTrain = options.train ?? 4000;
  const nHeld = options.heldOut ?? 200;
  const seed = options.seed ?? 0;
  for (const [k, v] of [
    ['train', nTrain],
    ['heldOut', nHeld],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`generateTask: ${k} must be a non-negative integer, got ${v}`);
  }
  const rng = new Xoshiro128(mixSeeds(seed, 0x5eed));
  const seen = new Set<string>();
  const draw = (split: string, n: number): ArithmeticProblem[] => {
    const out: ArithmeticProblem[] = [];
    for (let guard = 0; out.length < n; guard++) {
      if (guard > 100 * (n + 10)) throw new Error(`generateTask: cannot draw ${n} distinct ${split} problems`);
      const p = drawProblem(rng);
      if (seen.has(p.problem)) continue;
      seen.add(p.problem);
      out.push({ id: `${split}-${String(out.length).padStart(5, '0')}`, ...p });
    }
    return out;
  };
  const heldOut = draw('heldout', nHeld);
  const train = draw('train', nTrain);
  return { train, heldOut };
}

/**
 * Writes problems as JSONL rows `{ id, problem, answer, solution }` (the reader keeps `solution` in
 * `row.extra`, where `gtr sft`'s `data.response_field: solution` finds it). Creates the directory.
 */
export function writeTaskJsonl(path: string, problems: readonly ArithmeticProblem[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const lines = problems.map((p) =>
    JSON.stringify({ id: p.id, problem: p.problem, answer: p.answer, solution: p.solution }),
  );
  writeFileSync(path, lines.join('\n') + '\n');
}
