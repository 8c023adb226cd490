/**
 * The demo's synthetic task: seeded multi-digit arithmetic problems ("What is 47 + 385?") with
 * integer gold answers, a train split and a disjoint held-out split, and a short worked response
 * per problem for the SFT warm-up. Rows are the dataset layer's common JSONL rows
 * `{ id, problem, answer }` (plus `solution`, the SFT target, kept by the reader as `row.extra`),
 * so the RL loop reads them through `data.train: <path>.jsonl`.
 *
 * Difficulty mix (by construction, so a tiny model is right only part of the time): a + b and
 * a - b with 1-3 digit operands (1 and 2 digits 40% each, 3 digits 20%), a * b with a 1-2 digit
 * (70% / 30%) times a 1 digit operand.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Xoshiro128, mixSeeds } from '../data/prng.js';

/** One arithmetic problem. */
export interface ArithmeticProblem {
  /** Stable id: `<split>-<index>`. */
  id: string;
  /** "What is 47 + 385?" */
  problem: string;
  /** Gold answer as a decimal integer string (may be negative). */
  answer: string;
  /** The SFT target: "47 + 385 = 432\nAnswer: 432" (no EOS; the SFT code appends it). */
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

/** Operand with a digit count drawn from `weights` (weights[d - 1] for d digits). */
function operand(rng: Xoshiro128, weights: readonly number[]): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.nextFloat() * total;
  let d = 1;
  for (; d < weights.length && u >= weights[d - 1]!; d++) u -= weights[d - 1]!;
  return intIn(rng, d === 1 ? 0 : 10 ** (d - 1), 10 ** d - 1);
}

/** Digit-count weights of + and - operands (1, 2, 3 digits) and of the first factor of * (1, 2 digits). */
const ADD_DIGITS = [0.4, 0.4, 0.2] as const;
const MUL_DIGITS = [0.7, 0.3] as const;

/** The problem text of `a op b`. */
export function problemText(a: number, op: string, b: number): string {
  return `What is ${a} ${op} ${b}?`;
}

/** The worked SFT response: the equation restated with its result, then the final "Answer: N" line. */
export function workedSolution(a: number, op: string, b: number, answer: number): string {
  return `${a} ${op} ${b} = ${answer}\nAnswer: ${answer}`;
}

/** Draws one problem (operands and operator) from the generator. */
function drawProblem(rng: Xoshiro128): Omit<ArithmeticProblem, 'id'> {
  const u = rng.nextFloat();
  let op: ArithmeticProblem['op'];
  let a: number;
  let b: number;
  if (u < 0.45) {
    op = '+';
    a = operand(rng, ADD_DIGITS);
    b = operand(rng, ADD_DIGITS);
  } else if (u < 0.8) {
    op = '-';
    a = operand(rng, ADD_DIGITS);
    b = operand(rng, ADD_DIGITS);
  } else {
    op = '*';
    a = operand(rng, MUL_DIGITS);
    b = operand(rng, [1]);
  }
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
  for (const [k, v] of [['train', nTrain], ['heldOut', nHeld]] as const) {
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
  const lines = problems.map((p) => JSON.stringify({ id: p.id, problem: p.problem, answer: p.answer, solution: p.solution }));
  writeFileSync(path, lines.join('\n') + '\n');
}
