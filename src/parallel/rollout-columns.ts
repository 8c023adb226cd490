/**
 * The step's rollout as the metrics row needs it, over all data-parallel ranks: every response's
 * reward, correctness, grader timeout, length and finish reason, every prompt's length, and every
 * trained sample's advantage, in the single-process order (round, then global prompt index), so
 * the means are summed in the same order and equal the single-process metrics bitwise.
 */
import type { DistContext } from './context.js';

/** What the metrics row reads of one response. */
export interface ResponseColumns {
  reward: number;
  tokens: { length: number };
  grade: { correct: boolean; timedOut?: boolean };
  finishReason: string;
}

/** What the metrics row reads of one group (the loop's Group, src/rl/rollout-phase.ts). */
export interface GroupColumns {
  prompt: { tokens: { length: number } };
  responses: ResponseColumns[];
}

export interface GlobalRollout {
  responses: ResponseColumns[];
  promptLengths: number[];
  advantages: number[];
}

const FIELDS = 6; // key, reward, correct, timedOut, length, finish-by-length

/**
 * @param groups this rank's groups (all rounds), with `groupKeys[i]` the global order key of group i
 *   (round * 2^20 + global prompt index)
 * @param advantages this rank's trained samples' advantages (any order; only max / min / count are used)
 */
export async function globalRollout(
  dist: DistContext,
  groups: GroupColumns[],
  groupKeys: number[],
  advantages: number[],
): Promise<GlobalRollout> {
  if (!dist.distributed) {
    return {
      responses: groups.flatMap((g) => g.responses),
      promptLengths: groups.map((g) => g.prompt.tokens.length),
      advantages,
    };
  }
  const rows: number[] = [];
  groups.forEach((g, gi) =>
    g.responses.forEach((r, j) =>
      rows.push(
        groupKeys[gi] * 4096 + j,
        r.reward,
        r.grade.correct ? 1 : 0,
        r.grade.timedOut ? 1 : 0,
        r.tokens.length,
        r.finishReason === 'length' ? 1 : 0,
      ),
    ),
  );
  const flat = await dist.gather(rows, 'rollout metrics (responses)');
  const resp: number[][] = [];
  for (let i = 0; i < flat.length; i += FIELDS) resp.push(Array.from(flat.subarray(i, i + FIELDS)));
  resp.sort((a, b) => a[0] - b[0]);
  const prompts = await dist.gather(
    groups.flatMap((g, gi) => [groupKeys[gi], g.prompt.tokens.length]),
    'rollout metrics (prompts)',
  );
  const pl: number[][] = [];
  for (let i = 0; i < prompts.length; i += 2) pl.push([prompts[i], prompts[i + 1]]);
  pl.sort((a, b) => a[0] - b[0]);
  return {
    responses: resp.map(([, reward, correct, timedOut, length, byLength]) => ({
      reward,
      tokens: { length },
      grade: { correct: correct === 1, timedOut: timedOut === 1 },
      finishReason: byLength === 1 ? 'length' : 'stop',
    })),
    promptLengths: pl.map((p) => p[1]),
    advantages: Array.from(await dist.gather(advantages, 'rollout metrics (advantages)')),
  };
}
