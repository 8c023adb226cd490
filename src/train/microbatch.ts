/**
 * Packed training batches and their split into micro-batches by a token budget.
 * Layout: sequences (prompt + response) end to end in `tokens`; `seqLens` one entry per sequence;
 * per-token arrays have one value per token, value i being about token i as predicted from the
 * tokens before it in its sequence; `responseMask[i] = 1` marks trained tokens (never a sequence's
 * first token). No padding.
 */

/** A packed batch of sequences. */
export interface PackedBatch {
  tokens: Int32Array;
  seqLens: Int32Array;
  /** 1 = response token. */
  responseMask: Uint8Array;
}

/** One sequence to pack: prompt tokens, then the response tokens the loss covers. */
export interface PromptResponse {
  promptTokens: Int32Array;
  responseTokens: Int32Array;
}

/**
 * Packs sequences (in order) end to end: each is its prompt then its response, with
 * responseMask = 1 on the response tokens. The one packer of the RL loop (src/rl/batch.ts) and SFT.
 */
export function packSequences(seqs: readonly PromptResponse[]): PackedBatch {
  let total = 0;
  for (const q of seqs) total += q.promptTokens.length + q.responseTokens.length;
  const tokens = new Int32Array(total);
  const responseMask = new Uint8Array(total);
  const seqLens = new Int32Array(seqs.length);
  let pos = 0;
  seqs.forEach((q, k) => {
    const p = q.promptTokens.length,
      r = q.responseTokens.length;
    tokens.set(q.promptTokens, pos);
    tokens.set(q.responseTokens, pos + p);
    responseMask.fill(1, pos + p, pos + p + r);
    seqLens[k] = p + r;
    pos += p + r;
  });
  return { tokens, seqLens, responseMask };
}

/** A packed rollout batch with what the loss needs (float32 [T] each). */
export interface TrainBatch extends PackedBatch {
  /** Per-token advantages (GRPO: the sequence's advantage on each of its response tokens). */
  advantages: Float32Array;
  /** Behaviour-policy log-probs recomputed by the trainer (`Trainer.logprobs`) before the update. */
  oldLogprobs: Float32Array;
  /** Reference-model log-probs (`Trainer.referenceLogprobs`), when the loss has klCoef > 0. */
  refLogprobs?: Float32Array;
  /** Behaviour-policy log-probs from the rollout engine, when the loss has rolloutIsThreshold > 0. */
  rolloutLogprobs?: Float32Array;
}

/** A half-open range of sequences [seqStart, seqEnd) and of tokens [tokStart, tokEnd). */
export interface SeqRange {
  seqStart: number;
  seqEnd: number;
  tokStart: number;
  tokEnd: number;
}

/**
 * Greedy, order-preserving split of sequences into micro-batches of at most `tokenBudget` tokens
 * (a sequence longer than the budget gets a micro-batch of its own). Deterministic, so the same
 * batch always splits the same way (snapshot log-probs then match the training forward bitwise).
 * @throws Error when tokenBudget is not a positive integer or a length is not a positive integer.
 */
export function splitByTokenBudget(seqLens: ArrayLike<number>, tokenBudget: number): SeqRange[] {
  if (!Number.isInteger(tokenBudget) || tokenBudget <= 0)
    throw new Error(`tokenBudget must be a positive integer, got ${tokenBudget}`);
  const out: SeqRange[] = [];
  let cur: SeqRange | undefined;
  let tok = 0;
  for (let i = 0; i < seqLens.length; i++) {
    const len = seqLens[i]!;
    if (!Number.isInteger(len) || len <= 0) throw new Error(`seqLens[${i}] must be a positive integer, got ${len}`);
    if (cur && cur.tokEnd - cur.tokStart + len > tokenBudget) {
      out.push(cur);
      cur = undefined;
    }
    if (!cur) cur = { seqStart: i, seqEnd: i, tokStart: tok, tokEnd: tok };
    cur.seqEnd = i + 1;
    cur.tokEnd = tok + len;
    tok += len;
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Checks that every per-token array of `b` has sum(seqLens) entries.
 * @throws Error naming the first array whose length differs.
 */
export function checkBatch(b: PackedBatch & Partial<TrainBatch>, anchors: Float32Array[] = []): void {
  let total = 0;
  for (const l of b.seqLens) total += l;
  const arrays: [string, ArrayLike<number> | undefined][] = [
    ['tokens', b.tokens],
    ['responseMask', b.responseMask],
    ['advantages', b.advantages],
    ['oldLogprobs', b.oldLogprobs],
    ['refLogprobs', b.refLogprobs],
    ['rolloutLogprobs', b.rolloutLogprobs],
    ...anchors.map((a, k): [string, Float32Array] => [`anchorLogprobs[${k}]`, a]),
  ];
  for (const [name, a] of arrays) {
    if (a !== undefined && a.length !== total)
      throw new Error(`${name} has ${a.length} entries, but seqLens sum to ${total}`);
  }
}

/** Response tokens and sequences with at least one response token (the loss denominators). */
export function countResponse(b: PackedBatch): { tokens: number; sequences: number } {
  let tokens = 0;
  let sequences = 0;
  let pos = 0;
  for (const len of b.seqLens) {
    let n = 0;
    for (let j = pos; j < pos + len; j++) n += b.responseMask[j] ? 1 : 0;
    tokens += n;
    if (n > 0) sequences++;
    pos += len;
  }
  return { tokens, sequences };
}

/** The sequences [r.seqStart, r.seqEnd) of a packed batch (subarray views, no copies). */
export function sliceBatch<B extends PackedBatch & Partial<TrainBatch>>(b: B, r: SeqRange): B {
  const out = { ...b } as B;
  out.tokens = b.tokens.subarray(r.tokStart, r.tokEnd);
  out.seqLens = b.seqLens.subarray(r.seqStart, r.seqEnd);
  out.responseMask = b.responseMask.subarray(r.tokStart, r.tokEnd);
  if (b.advantages) out.advantages = b.advantages.subarray(r.tokStart, r.tokEnd);
  if (b.oldLogprobs) out.oldLogprobs = b.oldLogprobs.subarray(r.tokStart, r.tokEnd);
  if (b.refLogprobs) out.refLogprobs = b.refLogprobs.subarray(r.tokStart, r.tokEnd);
  if (b.rolloutLogprobs) out.rolloutLogprobs = b.rolloutLogprobs.subarray(r.tokStart, r.tokEnd);
  return out;
}

/** Token range of sequences [seqStart, seqEnd) given all lengths. */
export function seqRange(seqLens: ArrayLike<number>, seqStart: number, seqEnd: number): SeqRange {
  let tok = 0;
  for (let i = 0; i < seqStart; i++) tok += seqLens[i]!;
  let end = tok;
  for (let i = seqStart; i < seqEnd; i++) end += seqLens[i]!;
  return { seqStart, seqEnd, tokStart: tok, tokEnd: end };
}
