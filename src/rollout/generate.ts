/**
 * The rollout engine's typed wrapper: samples `n` continuations of each prompt from a policy with
 * the native engine (native/generate: KV cache, continuous batching, transformers' warpers).
 *
 * Sampling semantics (as transformers' logits processors, in their order): temperature, top-k
 * (ties with the k-th score kept), top-p (min_tokens_to_keep = 1), min-p; temperature 0 = greedy
 * argmax. Defaults: n 1, maxNewTokens 128, temperature 1, topK 0 (off), topP 1 (off), minP 0 (off),
 * no stop tokens, seed 0. (transformers' generation_config defaults top_k to 50; this one does not.)
 *
 * Log-probs: `logprobs[t]` = log softmax(logits_t / T)[tokens[t]], the temperature-scaled but
 * *untruncated* distribution of the policy (what RL trainers recompute), natural log, float32;
 * at temperature 0, log softmax(logits_t)[tokens[t]].
 *
 * Determinism: each sample's random stream depends only on (seed, prompt index, sample index,
 * step), so the same call on the same device and build gives the same tokens. Changing the batch
 * composition (maxNumSeqs, other prompts in the call) changes only floating-point rounding of the
 * batched matmuls / attention: greedy tokens then agree except at near-ties; sampled tokens agree
 * unless a logit difference moves a CDF boundary across the sample's uniform (rare, after which that
 * sample diverges). On CPU fp32 the test suite checks greedy equality across slot counts.
 *
 * Cancellation: aborting `signal` makes the promise reject with Error('generation cancelled') at
 * the next decode step (no partial results).
 */
import type { NativeGenerateOptions, NativeGenerateStats, NativePolicy, NativeRollout } from '../native/types.js';
import { native } from '../native/binding.js';

/** A native policy, or anything exposing one as `.native` (the public `Policy`). */
export type PolicyLike = NativePolicy | { readonly native: NativePolicy };

export interface GenerateProgress {
  finishedSequences: number;
  totalSequences: number;
  generatedTokens: number;
}

/**
 * Options of {@link generate}: the native engine's (NativeGenerateOptions in ../native/types.ts,
 * where every field is documented: sampling, stop tokens and strings, seed, the KV cache budget and
 * block size, test and benchmark hooks), with stop token ids as any array, plus progress and
 * cancellation. Stop strings need `tokenBytes` (Tokenizer.tokenBytes()); cut the text with
 * {@link cutAtStop}.
 */
export interface GenerateOptions extends Omit<NativeGenerateOptions, 'stopTokenIds'> {
  /** Ids that end a sample; the stop token is included as the sample's last token. */
  stopTokenIds?: ArrayLike<number>;
  /** Called from the event loop with progress (at most ~10 times a second, and at the end). */
  onProgress?: (p: GenerateProgress) => void;
  /** Aborting rejects the promise with Error('generation cancelled'). */
  signal?: AbortSignal;
}

/** One sample. */
export type Rollout = NativeRollout;
export type GenerateStats = NativeGenerateStats;

function nativeOf(policy: PolicyLike): NativePolicy {
  if (policy && typeof policy === 'object' && 'native' in policy) return policy.native;
  return policy as NativePolicy;
}

/**
 * Token-id prompts as Int32Array, checking integers in int32 range (the engine checks the vocabulary).
 * @throws Error naming the prompt index and position.
 */
export function toPromptArrays(prompts: ReadonlyArray<ArrayLike<number>>): Int32Array[] {
  if (!Array.isArray(prompts)) throw new Error('generate: prompts must be an array of token-id arrays');
  return prompts.map((p, i) => {
    if (p instanceof Int32Array) return p;
    if (p == null || typeof p.length !== 'number')
      throw new Error(`generate: prompts[${i}] is not an array of token ids`);
    const out = new Int32Array(p.length);
    for (let j = 0; j < p.length; j++) {
      const v = p[j];
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
        throw new Error(
          `generate: prompts[${i}] has token id ${String(v)} at position ${j}, not a non-negative integer`,
        );
      }
      out[j] = v;
    }
    return out;
  });
}

/**
 * A response text cut before the first occurrence of any stop string (vLLM's default,
 * include_stop_str_in_output = false); the text unchanged when none occurs.
 */
export function cutAtStop(text: string, stopStrings: readonly string[]): string {
  let cut = -1;
  for (const s of stopStrings) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut < 0 ? text : text.slice(0, cut);
}

/**
 * Samples `n` continuations of every prompt; returns them with the engine's statistics.
 * @param prompts token ids, any lengths (each non-empty)
 * @returns rollouts[prompt][sample] and stats (wall / prefill / decode ms, steps, tokens, slots)
 * @throws Error (synchronously rejected) for an empty prompt, an id outside the vocabulary (naming
 *   prompt index and position), or a bad option; Error('generation cancelled') when aborted;
 *   Error('the policy was disposed').
 */
export async function generateWithStats(
  policy: PolicyLike,
  prompts: ReadonlyArray<ArrayLike<number>>,
  options: GenerateOptions = {},
): Promise<{ rollouts: Rollout[][]; stats: GenerateStats }> {
  const { onProgress, signal, stopTokenIds, ...rest } = options;
  if (signal?.aborted) throw new Error('generation cancelled');
  const nativeOptions: NativeGenerateOptions = { ...rest };
  if (rest.stopStrings?.length && !rest.tokenBytes)
    throw new Error('generate: stopStrings need tokenBytes (Tokenizer.tokenBytes())');
  if (stopTokenIds !== undefined) nativeOptions.stopTokenIds = Int32Array.from(stopTokenIds);
  const progress = onProgress
    ? (p: GenerateProgress) => {
        try {
          onProgress(p);
        } catch {
          /* a throwing progress callback must not break generation */
        }
      }
    : undefined;
  const handle = native().generate(nativeOf(policy), toPromptArrays(prompts), nativeOptions, progress);
  const onAbort = () => handle.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await handle.promise;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Samples `n` continuations of every prompt (see the module doc for semantics).
 * @returns rollouts[prompt][sample]: tokens (Int32Array, generated ids only), logprobs
 *   (Float32Array, same length), finishReason 'stop' | 'length', timings {prefillMs, decodeMs, tokens}
 * @throws as {@link generateWithStats}
 */
export async function generate(
  policy: PolicyLike,
  prompts: ReadonlyArray<ArrayLike<number>>,
  options: GenerateOptions = {},
): Promise<Rollout[][]> {
  return (await generateWithStats(policy, prompts, options)).rollouts;
}
