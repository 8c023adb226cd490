/**
 * Per-problem sampling metrics: pass@k (unbiased estimator), mean@n, maj@n; and parsing of metric
 * names such as `pass@4`, `mean@16`, `maj@16`.
 */

function checkCount(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
}

/**
 * Unbiased pass@k estimator (Chen et al., 2021, "Evaluating Large Language Models Trained on
 * Code", Sec. 2.1, Eq. 1): with n samples of which c are correct,
 *
 *     pass@k = 1 - C(n - c, k) / C(n, k)
 *
 * evaluated stably as in the paper's numpy snippet (Fig. 3) by
 * `1 - prod_{i = n-c+1 .. n} (1 - k / i)`, and exactly 1 when `n - c < k` (every k-subset holds a
 * correct sample). No binomial coefficient is formed, so large n (thousands) stays finite.
 *
 * @param n samples drawn (integer >= 1); @param c correct samples (integer, 0 <= c <= n);
 * @param k subset size (integer, 1 <= k <= n).
 * @returns probability in [0, 1].
 * @throws RangeError when k > n, c > n, or any argument is not a valid integer.
 */
export function passAtK(n: number, c: number, k: number): number {
  checkCount(n, 'pass@k: n');
  checkCount(c, 'pass@k: c');
  checkCount(k, 'pass@k: k');
  if (n < 1) throw new RangeError('pass@k: n must be >= 1');
  if (k < 1) throw new RangeError('pass@k: k must be >= 1');
  if (k > n) throw new RangeError(`pass@k: k=${k} exceeds the number of samples n=${n}`);
  if (c > n) throw new RangeError(`pass@k: c=${c} correct exceeds the number of samples n=${n}`);
  if (n - c < k) return 1;
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/**
 * mean@n: the fraction of the n samples that are correct, i.e. average accuracy per sample
 * (DeepSeek-R1, Guo et al., 2025, Sec. 3.1 evaluation setup: `pass@1 = (1/k) sum_i p_i` over k
 * samples). Equals pass@1 of the unbiased estimator with n = k.
 * @throws RangeError on an empty list.
 */
export function meanAtN(correct: readonly boolean[]): number {
  if (correct.length === 0) throw new RangeError('mean@n: no samples');
  let c = 0;
  for (const v of correct) if (v) c++;
  return c / correct.length;
}

/** One sample's vote: its canonical answer key (null = no extracted answer) and its verdict. */
export interface Vote {
  key: string | null;
  correct: boolean;
}

/** Outcome of a majority vote over one problem's samples. */
export interface MajorityOutcome {
  /** Winning canonical key, or null when no sample had an extracted answer. */
  key: string | null;
  /** Index of the first sample carrying the winning key (-1 when none voted). */
  index: number;
  /** Votes the winner received. */
  votes: number;
  /** The verdict of the winning group (its first sample's), false when nobody voted. */
  correct: boolean;
}

/**
 * Majority vote / self-consistency (Wang et al., 2023, "Self-Consistency Improves Chain of Thought
 * Reasoning in Language Models", Sec. 2, the `argmax_a sum_i 1(a_i = a)` rule). Samples are grouped
 * by the caller's canonical answer key; samples whose key is null (no extracted answer) do not vote.
 * The most frequent key wins; ties go to the key that occurred first. The problem counts as solved
 * when the winning group's samples are correct; the group's first sample is taken as its
 * representative (samples sharing a canonical key share a verdict when the key and the grader agree).
 */
export function majorityVote(votes: readonly Vote[]): MajorityOutcome {
  const counts = new Map<string, { votes: number; index: number }>();
  for (let i = 0; i < votes.length; i++) {
    const key = votes[i]!.key;
    if (key === null) continue;
    const e = counts.get(key);
    if (e) e.votes++;
    else counts.set(key, { votes: 1, index: i });
  }
  let best: { key: string; votes: number; index: number } | null = null;
  // Map iteration follows first insertion, so a strict '>' keeps the earliest key on ties.
  for (const [key, e] of counts) if (best === null || e.votes > best.votes) best = { key, ...e };
  if (best === null) return { key: null, index: -1, votes: 0, correct: false };
  return { key: best.key, index: best.index, votes: best.votes, correct: votes[best.index]!.correct };
}

/** maj@n as a 0/1 score for one problem: 1 when the majority answer is correct (see {@link majorityVote}). */
export function majAtN(votes: readonly Vote[]): number {
  return majorityVote(votes).correct ? 1 : 0;
}

/** A parsed metric name: `pass@k`, `mean@k` or `maj@k`. */
export interface MetricSpec {
  kind: 'pass' | 'mean' | 'maj';
  k: number;
  name: string;
}

/**
 * Parses `pass@4`, `mean@16`, `maj@16`. `mean@k` and `maj@k` with k < n use each problem's first k
 * samples; `pass@k` uses all n samples through the unbiased estimator.
 * @throws Error naming the metric when it is malformed.
 */
export function parseMetric(name: string): MetricSpec {
  const m = /^(pass|mean|maj)@([1-9][0-9]*)$/.exec(name);
  if (!m) throw new Error(`unknown metric '${name}'; expected pass@k, mean@k or maj@k with k >= 1`);
  return { kind: m[1] as MetricSpec['kind'], k: Number(m[2]), name };
}

/**
 * The default metric set for n samples per problem: pass@k for k = 1, 2, 4, ... up to n (and n
 * itself), then mean@n and maj@n. E.g. n = 16: pass@1, pass@2, pass@4, pass@8, pass@16, mean@16, maj@16.
 */
export function defaultMetrics(n: number): string[] {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`defaultMetrics: n must be a positive integer, got ${n}`);
  const out: string[] = [];
  for (let k = 1; k <= n; k *= 2) out.push(`pass@${k}`);
  if (!out.includes(`pass@${n}`)) out.push(`pass@${n}`);
  out.push(`mean@${n}`, `maj@${n}`);
  return out;
}
