/**
 * The behavior-transition task (docs/TRANSITION.md): small additions ("47+8=") answered in one of
 * two output formats, the two behavior modes,
 * - mode A: `Answer: 55`
 * - mode B: `#### 55`
 * The SFT warm-up teaches both, A in most rows (default 90%) and B in the rest, so after the
 * warm-up the policy answers mostly in A and rarely in B. Phase A's grader rewards only a correct
 * answer in format A, phase B's only a correct answer in format B: switching phases asks the
 * policy to move the first response token's probability from ~0.1 (or less, after a phase A)
 * to ~1, a change of mode far from its anchor, while the arithmetic itself stays the same skill.
 * The additions are kept easy (a two-digit and a one-digit number) so that the warmed-up model
 * gets the sum right almost always and the reward measures the mode, not arithmetic skill.
 *
 * Rows are the dataset layer's JSONL rows `{ id, problem, answer, solution }`; the graders are
 * custom grader exports (src/grading/custom.ts) named in the recipe by {@link graderModule}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Xoshiro128, mixSeeds } from '../data/prng.js';

/** The two behavior modes (response formats). */
export type Mode = 'A' | 'B';

/** One problem of the task. */
export interface TransitionProblem {
  /** `<split>-<index>` */
  id: string;
  /** "47+8=" */
  problem: string;
  /** The sum as a decimal string. */
  answer: string;
  /** SFT target in the row's mode: "Answer: 55" or "#### 55" (EOS appended by the SFT code). */
  solution: string;
  mode: Mode;
}

/** The response of `mode` for the answer `n`. */
export function formatAnswer(mode: Mode, n: number | string): string {
  return mode === 'A' ? `Answer: ${n}` : `#### ${n}`;
}

const MODE_RE: Record<Mode, RegExp> = { A: /^Answer: (-?\d+)$/, B: /^#### (-?\d+)$/ };

/**
 * The mode a response is written in: 'A' when the whole (trimmed) response is `Answer: <int>`, 'B'
 * when it is `#### <int>`, null otherwise (anything else, or both, or extra text).
 */
export function responseMode(response: string): Mode | null {
  const t = response.trim();
  if (MODE_RE.A.test(t)) return 'A';
  if (MODE_RE.B.test(t)) return 'B';
  return null;
}

/**
 * Grades `response` for phase `mode`: score 1 when the whole trimmed response is the gold answer in
 * that mode's format, else 0. `extracted` is the integer found in either format (null if none);
 * `mode` (a metric) is the response's own mode.
 */
export function gradeMode(
  mode: Mode,
  response: string,
  gold: string,
): { score: number; correct: boolean; extracted: string | null; response_mode: string } {
  const own = responseMode(response);
  const m = own ? MODE_RE[own].exec(response.trim()) : null;
  const extracted = m ? m[1]! : null;
  const correct = own === mode && extracted !== null && Number(extracted) === Number(gold);
  return { score: correct ? 1 : 0, correct, extracted, response_mode: own ?? 'other' };
}

const goldOf = (row: Record<string, unknown>): string => String(row.gold ?? row.answer ?? '');

/** Phase A's grader (custom grader export `gradeModeA`): 1 for a correct `Answer: N`, else 0. */
export function gradeModeA(response: string, row: Record<string, unknown>) {
  return gradeMode('A', response, goldOf(row));
}

/** Phase B's grader (custom grader export `gradeModeB`): 1 for a correct `#### N`, else 0. */
export function gradeModeB(response: string, row: Record<string, unknown>) {
  return gradeMode('B', response, goldOf(row));
}

/**
 * The recipe's grader spec of a mode: this module (its .ts source under vitest / tsx, else the
 * built .js) and the export.
 */
export function graderModule(mode: Mode): { module: string; export: string } {
  const self = fileURLToPath(import.meta.url);
  return { module: self, export: mode === 'A' ? 'gradeModeA' : 'gradeModeB' };
}

/** Sizes and mix of {@link generateTransitionTask}. */
export interface TransitionTaskOptions {
  /** Training problems (SFT and RL prompts). Default 800. */
  train?: number;
  /** Held-out problems. Default 100. */
  heldOut?: number;
  /** Share of SFT rows answered in mode B. Default 0.1. */
  shareB?: number;
  seed?: number;
}

/**
 * Draws distinct problems `a+b=` (a uniform in 10..99, b in 0..9: 900 distinct problems), the
 * held-out split first, then the training split (disjoint), and gives each row a mode: exactly
 * round(shareB x n) rows of each split (seeded positions) are B, the rest A (the SFT target is
 * written in that mode). Deterministic in `seed`.
 * @throws Error when the sizes are not non-negative integers, exceed the 900 problems, or shareB is outside [0, 1]
 */
export function generateTransitionTask(o: TransitionTaskOptions = {}): {
  train: TransitionProblem[];
  heldOut: TransitionProblem[];
} {
  const nTrain = o.train ?? 800;
  const nHeld = o.heldOut ?? 100;
  const shareB = o.shareB ?? 0.1;
  for (const [k, v] of [
    ['train', nTrain],
    ['heldOut', nHeld],
  ] as const) {
    if (!Number.isInteger(v) || v < 0)
      throw new Error(`generateTransitionTask: ${k} must be a non-negative integer, got ${v}`);
  }
  if (nTrain + nHeld > 900)
    throw new Error(`generateTransitionTask: train + heldOut = ${nTrain + nHeld} exceeds the 900 distinct problems`);
  if (!(shareB >= 0 && shareB <= 1)) throw new Error(`generateTransitionTask: shareB must be in [0, 1], got ${shareB}`);
  const rng = new Xoshiro128(mixSeeds(o.seed ?? 0, 0x7a5c));
  const all: [number, number][] = [];
  for (let a = 10; a <= 99; a++) for (let b = 0; b <= 9; b++) all.push([a, b]);
  for (let i = all.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  const make = (split: string, pairs: [number, number][]): TransitionProblem[] => {
    // Exactly round(shareB * n) rows in mode B, at seeded positions.
    const order = pairs.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.nextInt(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const inB = new Set(order.slice(0, Math.round(shareB * pairs.length)));
    return pairs.map(([a, b], i) => makeRow(split, i, a, b, inB.has(i) ? 'B' : 'A'));
  };
  const makeRow = (split: string, i: number, a: number, b: number, mode: Mode): TransitionProblem => {
    return {
      id: `${split}-${String(i).padStart(4, '0')}`,
      problem: `${a}+${b}=`,
      answer: String(a + b),
      solution: formatAnswer(mode, a + b),
      mode,
    };
  };
  const heldOut = make('heldout', all.slice(0, nHeld));
  const train = make('train', all.slice(nHeld, nHeld + nTrain));
  return { train, heldOut };
}

/** Writes rows `{ id, problem, answer, solution, mode }` as JSONL (creates the directory). */
export function writeTransitionJsonl(path: string, rows: readonly TransitionProblem[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
