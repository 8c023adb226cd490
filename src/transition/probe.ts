/**
 * The transition benchmark's primary measure (docs/TRANSITION.md "Analysis plan"): the exact
 * probability, under the policy, that a response to a held-out prompt opens in each mode's format,
 * computed from the logits (softmax at temperature 1) by one no-grad forward pass; no sampling.
 *
 * For prompt x and mode m with format prefix c_1..c_K (the response's tokens before the number:
 * mode A `Answer:` ` `, mode B `#` `#` `#` `#` ` ` with the demo tokenizer):
 *   first(x, m) = p(c_1 | x)
 *   seq(x, m)   = prod_k p(c_k | x, c_<k)
 * and the step's values are their means over the held-out prompts. seq is the probability that a
 * sampled response starts in mode m's format (the grader's mode decision); first is the first
 * token's share alone.
 */
import { packSamples, scatterPerSample, type TrainSample } from '../rl/batch.js';
import type { TrainerEngine } from '../rl/engines.js';
import { renderPrompt } from '../rollout/prompt.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { formatAnswer, type Mode, type TransitionProblem } from './task.js';

/** The held-out prompts and each mode's format prefix, tokenised once. */
export interface ModeProbe {
  prompts: Int32Array[];
  prefix: Record<Mode, Int32Array>;
}

/** Mean over prompts of each mode's exact probabilities. */
export interface ModeProbabilities {
  /** Mean of prod_k p(c_k | x, c_<k): the whole format prefix. */
  seq: Record<Mode, number>;
  /** Mean of p(c_1 | x): the format's first token. */
  first: Record<Mode, number>;
}

/**
 * The format prefix of `mode`: the tokens of a response in that format before the first token
 * that holds a digit (responses are tokenised alone, as SFT and the rollouts see them).
 * @throws Error when the format has no token before the number
 */
export function formatPrefix(tokenizer: Tokenizer, mode: Mode): Int32Array {
  const ids = tokenizer.encode(formatAnswer(mode, 55), { addSpecialTokens: false });
  const k = ids.findIndex((id) => /\d/.test(tokenizer.decode([id])));
  if (k <= 0) throw new Error(`formatPrefix: mode ${mode}'s format has no token before the number`);
  return Int32Array.from(ids.slice(0, k));
}

/** The probe of `rows` (held-out problems) through the `plain` template the RL prompts use. */
export function modeProbe(tokenizer: Tokenizer, rows: readonly TransitionProblem[]): ModeProbe {
  return {
    prompts: rows.map(
      (r) =>
        renderPrompt(
          tokenizer,
          { id: r.id, problem: r.problem, answer: r.answer, extra: {} },
          {
            template: 'plain',
            chat: false,
            enableThinking: false,
          },
        ).tokens,
    ),
    prefix: { A: formatPrefix(tokenizer, 'A'), B: formatPrefix(tokenizer, 'B') },
  };
}

/**
 * Exact per-prompt log-probabilities of each mode's prefix: result[mode][i] = per-token natural-log
 * probabilities (Float32Array of the prefix's length) for prompt i, from one no-grad forward of
 * the trainer (the policy's current weights; float32; temperature 1).
 */
export async function prefixLogprobs(
  trainer: Pick<TrainerEngine, 'logprobs'>,
  probe: ModeProbe,
): Promise<Record<Mode, Float32Array[]>> {
  const modes: Mode[] = ['A', 'B'];
  const samples: TrainSample[] = modes.flatMap((m) =>
    probe.prompts.map((p, i) => ({
      group: i,
      promptTokens: p,
      responseTokens: probe.prefix[m],
      samplerLogprobs: new Float32Array(probe.prefix[m].length),
      advantage: 0,
    })),
  );
  const b = packSamples(
    samples,
    samples.map((_, i) => i),
  );
  const r = await trainer.logprobs({ tokens: b.tokens, seqLens: b.seqLens, responseMask: b.responseMask });
  const per: Float32Array[] = samples.map(() => new Float32Array(0));
  scatterPerSample(samples, b, r.logprobs, per);
  const n = probe.prompts.length;
  return { A: per.slice(0, n), B: per.slice(n) };
}

/**
 * The step's measure: each mode's mean exact probability (whole prefix and first token) over the
 * probe's prompts. Sums of log-probs are taken in float64.
 */
export async function modeProbabilities(
  trainer: Pick<TrainerEngine, 'logprobs'>,
  probe: ModeProbe,
): Promise<ModeProbabilities> {
  const lp = await prefixLogprobs(trainer, probe);
  const out: ModeProbabilities = { seq: { A: 0, B: 0 }, first: { A: 0, B: 0 } };
  for (const m of ['A', 'B'] as const) {
    let s = 0,
      f = 0;
    for (const row of lp[m]) {
      let sum = 0;
      for (const v of row) sum += v;
      s += Math.exp(sum);
      f += Math.exp(row[0]!);
    }
    out.seq[m] = s / lp[m].length;
    out.first[m] = f / lp[m].length;
  }
  return out;
}
