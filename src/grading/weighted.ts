/**
 * Weighted rewards (`reward.graders: [{grader, weight}]`): several graders grade the same items,
 * and an item's reward is the weighted sum of their scores, as TRL's `reward_funcs` with
 * `reward_weights` (TRL GRPOTrainer: rewards = sum_i w_i * r_i). Each part's score and metrics are
 * kept on the result under the part's name, so they reach the step metrics and the sample log.
 */
import { basename } from 'node:path';
import type { GradeResult, GraderSpec, WeightedPart } from './types.js';

/** The name a part's metrics are logged under: its own, else the registry name or `file#export`. */
export function partName(part: WeightedPart): string {
  if (part.name) return part.name;
  const g: GraderSpec = part.grader;
  if (typeof g === 'string') return g;
  const file = basename(g.module).replace(/\.[cm]?[jt]s$/, '');
  return g.export && g.export !== 'default' ? `${file}#${g.export}` : file;
}

/** Fields of a GradeResult that are the verdict itself, not metrics. */
const VERDICT = new Set(['score', 'correct', 'extracted', 'timedOut', 'error']);

/** A result's metrics: every field but the verdict's. */
export function gradeMetrics(r: GradeResult): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).filter(([k]) => !VERDICT.has(k)));
}

/**
 * Combines the parts' results for each item: `score` = sum of weight x part score; `correct` and
 * `extracted` from the first part; `<name>` = the part's score and `<name>/<metric>` = its metrics;
 * `error` (joined, prefixed by the part's name) and `timedOut` when any part failed the item.
 * @param parts the weighted parts, in recipe order
 * @param results results[i][j] = part i's verdict on item j
 * @throws Error when the lists' lengths disagree (a bug, not bad input)
 */
export function combineWeighted(parts: WeightedPart[], results: GradeResult[][]): GradeResult[] {
  const n = results[0]?.length ?? 0;
  if (results.length !== parts.length || results.some((r) => r.length !== n))
    throw new Error('combineWeighted: one result list per part, each with one verdict per item');
  const names = parts.map(partName);
  return Array.from({ length: n }, (_, j) => {
    const first = results[0]![j]!;
    const out: GradeResult = { score: 0, correct: first.correct, extracted: first.extracted };
    const errors: string[] = [];
    parts.forEach((p, i) => {
      const r = results[i]![j]!;
      out.score += p.weight * r.score;
      out[names[i]!] = r.score;
      for (const [k, v] of Object.entries(gradeMetrics(r))) out[`${names[i]}/${k}`] = v;
      if (r.error !== undefined) errors.push(`${names[i]}: ${r.error}`);
      if (r.timedOut) out.timedOut = true;
    });
    if (errors.length) out.error = errors.join('; ');
    return out;
  });
}
