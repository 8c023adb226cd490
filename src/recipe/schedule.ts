/**
 * Non-stationary training (recipe `data.schedule`): the phases of a run, which phase a step is in,
 * and each phase's training prompts, prompt order, rendering, grader and held-out benchmarks.
 *
 * Phases run in the listed order, each for its `steps`; their sum is `train.steps`. Entries that
 * share a name are one phase met again (a cycle A, B, A): they must agree on every field, and they
 * share one prompt order, which continues where it stopped, and one evaluation. A recipe without a
 * schedule is one phase, named after nothing (metric names stay as they were), read from `data.train`,
 * `data.template` and `reward.grader`. This module is the pure part (checks, spans); the loaded
 * data of each phase is src/rl/phased-data.ts.
 */
import type { GraderSpec, RewardSpec, WeightedGraderSpec } from '../grading/types.js';

/** One schedule problem: a recipe key path (zod style) and what is wrong, naming the phase. */
export interface ScheduleIssue {
  path: (string | number)[];
  message: string;
}

/** A phase with every fallback resolved. */
export interface ResolvedPhase {
  /** The phase name ('' for the single phase of a recipe without a schedule). */
  name: string;
  train: string;
  template: string;
  grader: RewardSpec;
  /** Held-out datasets of this phase's evaluation. */
  eval: string[];
}

/** A contiguous run of steps in one phase: steps firstStep..lastStep (1-based, inclusive). */
export interface PhaseSpan {
  /** Index into {@link resolvePhases}' list (distinct phases). */
  phase: number;
  /** Index of the schedule entry. */
  entry: number;
  firstStep: number;
  lastStep: number;
}

/** One data.schedule entry as ./schema.ts parses it (null = the recipe's own value). */
interface SchedulePhase {
  name: string;
  steps: number;
  train: string | null;
  template: string | null;
  grader: GraderSpec | null;
  eval: string[] | null;
}

/**
 * The parts of a recipe a schedule reads (a parsed Recipe fits; written out so that this module,
 * which the schema calls, does not import the schema back).
 */
export interface ScheduledRecipe {
  data: { schedule: readonly SchedulePhase[] | null; train: string; template: string };
  reward: { grader: GraderSpec; graders?: WeightedGraderSpec['graders'] | null };
  eval: { benchmarks: string[] };
  train: { steps: number };
}

const FIELDS = ['train', 'template', 'grader', 'eval'] as const;

/**
 * The problems of a recipe's schedule that one field's type cannot see: the phases' steps must sum
 * to train.steps, and entries that share a name must agree on every field. Empty when there is no
 * schedule or nothing is wrong. Used by the recipe schema (src/recipe/schema.ts).
 */
export function checkSchedule(r: {
  data: { schedule: readonly SchedulePhase[] | null };
  train: { steps: number };
}): ScheduleIssue[] {
  const s = r.data.schedule;
  if (!s) return [];
  const issues: ScheduleIssue[] = [];
  const total = s.reduce((a, p) => a + p.steps, 0);
  if (total !== r.train.steps) {
    issues.push({
      path: ['data', 'schedule'],
      message: `the phases' steps sum to ${total} (${s.map((p) => `${p.name} ${p.steps}`).join(' + ')}) but train.steps is ${r.train.steps}; make them equal`,
    });
  }
  const first = new Map<string, number>();
  s.forEach((p, i) => {
    const j = first.get(p.name);
    if (j === undefined) {
      first.set(p.name, i);
      return;
    }
    for (const f of FIELDS) {
      if (JSON.stringify(p[f]) !== JSON.stringify(s[j]![f])) {
        issues.push({
          path: ['data', 'schedule', i, f],
          message: `phase "${p.name}" is met again here but its ${f} (${JSON.stringify(p[f])}) differs from data.schedule[${j}]'s (${JSON.stringify(s[j]![f])}); phases that share a name must agree (give this one another name)`,
        });
      }
    }
  });
  return issues;
}

/**
 * A readable key path for a recipe error: `data.schedule[1] (phase "B").steps` for a path into a
 * schedule entry whose name `nameOf(i)` knows; undefined for any other path.
 */
export function scheduleKeyPath(path: readonly PropertyKey[], nameOf: (i: number) => unknown): string | undefined {
  if (path[0] !== 'data' || path[1] !== 'schedule' || path.length < 3) return undefined;
  const i = Number(path[2]);
  if (!Number.isInteger(i)) return undefined;
  const name = nameOf(i);
  const rest = path.slice(3).map(String);
  return `data.schedule[${i}]${typeof name === 'string' ? ` (phase "${name}")` : ''}${rest.length ? '.' + rest.join('.') : ''}`;
}

/** The recipe's reward: the weighted list `reward.graders` when set, else `reward.grader`. */
export function rewardSpec(recipe: Pick<ScheduledRecipe, 'reward'>): RewardSpec {
  return recipe.reward.graders ? { graders: recipe.reward.graders } : recipe.reward.grader;
}

/** The distinct phases of the recipe, in order of first appearance (one unnamed phase without a schedule). */
export function resolvePhases(recipe: ScheduledRecipe): ResolvedPhase[] {
  const s = recipe.data.schedule;
  if (!s)
    return [
      {
        name: '',
        train: recipe.data.train,
        template: recipe.data.template,
        grader: rewardSpec(recipe),
        eval: recipe.eval.benchmarks,
      },
    ];
  const out: ResolvedPhase[] = [];
  for (const p of s) {
    if (out.some((q) => q.name === p.name)) continue;
    out.push({
      name: p.name,
      train: p.train ?? recipe.data.train,
      template: p.template ?? recipe.data.template,
      grader: p.grader ?? rewardSpec(recipe),
      eval: p.eval ?? recipe.eval.benchmarks,
    });
  }
  return out;
}

/** The schedule as spans of steps (one span of train.steps steps without a schedule). */
export function phaseSpans(recipe: ScheduledRecipe): PhaseSpan[] {
  const s = recipe.data.schedule;
  if (!s) return [{ phase: 0, entry: 0, firstStep: 1, lastStep: recipe.train.steps }];
  const names = resolvePhases(recipe).map((p) => p.name);
  const out: PhaseSpan[] = [];
  let step = 1;
  s.forEach((p, entry) => {
    out.push({ phase: names.indexOf(p.name), entry, firstStep: step, lastStep: step + p.steps - 1 });
    step += p.steps;
  });
  return out;
}

/**
 * The span that holds `step` (1-based). Steps past the schedule's end (a resume with more
 * train.steps) stay in the last span.
 * @throws RangeError for a step < 1
 */
export function spanAt(spans: readonly PhaseSpan[], step: number): PhaseSpan {
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`spanAt: step must be a positive integer, got ${step}`);
  return spans.find((s) => step >= s.firstStep && step <= s.lastStep) ?? spans[spans.length - 1]!;
}
