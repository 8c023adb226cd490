/**
 * `PromptSampler`: the order in which training prompts are drawn. Each epoch is a fresh seeded
 * permutation of the N rows (seed of epoch e = mix(seed, e)); `next(count)` walks it and rolls
 * over into the next epoch's permutation, so every row is seen once per epoch. The state is four
 * integers, and `fromState(state())` resumes exactly where training stopped.
 */
import { mixSeeds, shuffleInPlace, Xoshiro128 } from './prng.js';

/** Serialisable sampler state (JSON-safe). */
export interface PromptSamplerState {
  version: 1;
  /** Number of rows sampled from. */
  n: number;
  /** Base seed (uint32). */
  seed: number;
  /** Current epoch (0-based). */
  epoch: number;
  /** Position inside the current epoch's permutation, in [0, n). */
  cursor: number;
}

/** Seeded, resumable prompt order over rows 0..n-1. */
export class PromptSampler {
  private readonly n: number;
  private readonly seed: number;
  private epochNo: number;
  private cursor: number;
  private perm: Uint32Array;

  /**
   * @param n number of rows (>= 1)
   * @param seed any integer (its low 32 bits are used)
   */
  constructor(n: number, seed: number) {
    if (!Number.isInteger(n) || n < 1 || n >= 2 ** 32)
      throw new RangeError(`PromptSampler: n must be a positive integer, got ${n}`);
    if (!Number.isInteger(seed)) throw new RangeError(`PromptSampler: seed must be an integer, got ${seed}`);
    this.n = n;
    this.seed = seed >>> 0;
    this.epochNo = 0;
    this.cursor = 0;
    this.perm = PromptSampler.permutation(n, this.seed, 0);
  }

  /** The permutation of 0..n-1 used in `epoch` for `seed`. */
  static permutation(n: number, seed: number, epoch: number): Uint32Array {
    const perm = new Uint32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    shuffleInPlace(perm, new Xoshiro128(mixSeeds(seed >>> 0, epoch >>> 0, Math.floor(epoch / 2 ** 32))));
    return perm;
  }

  /** Current epoch (0-based): how many full passes over the rows are complete. */
  get epoch(): number {
    return this.epochNo;
  }

  /**
   * Next `count` row indices (each in [0, n)). Within an epoch no index repeats; a request that
   * crosses the end of an epoch continues with the next epoch's permutation.
   */
  next(count: number): number[] {
    if (!Number.isInteger(count) || count < 0)
      throw new RangeError(`PromptSampler.next: count must be a non-negative integer, got ${count}`);
    const out: number[] = [];
    while (out.length < count) {
      if (this.cursor === this.n) {
        this.epochNo++;
        this.cursor = 0;
        this.perm = PromptSampler.permutation(this.n, this.seed, this.epochNo);
      }
      const take = Math.min(count - out.length, this.n - this.cursor);
      for (let i = 0; i < take; i++) out.push(this.perm[this.cursor + i]!);
      this.cursor += take;
    }
    return out;
  }

  /** Snapshot of the position, for checkpoints. */
  state(): PromptSamplerState {
    return { version: 1, n: this.n, seed: this.seed, epoch: this.epochNo, cursor: this.cursor };
  }

  /**
   * Rebuilds a sampler from {@link state}; the next `next()` continues exactly where it stopped.
   * @param expectedN if given, the dataset size now; a mismatch throws (the dataset changed)
   */
  static fromState(state: PromptSamplerState, expectedN?: number): PromptSampler {
    const { version, n, seed, epoch, cursor } = state;
    if (version !== 1) throw new Error(`PromptSampler state: unsupported version ${String(version)}`);
    if (expectedN !== undefined && expectedN !== n)
      throw new Error(`PromptSampler state is for ${n} rows but the dataset has ${expectedN}`);
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`PromptSampler state: bad epoch ${epoch}`);
    if (!Number.isInteger(cursor) || cursor < 0 || cursor > n)
      throw new Error(`PromptSampler state: cursor ${cursor} outside [0, ${n}]`);
    const s = new PromptSampler(n, seed);
    s.epochNo = epoch;
    s.cursor = cursor;
    s.perm = PromptSampler.permutation(n, s.seed, epoch);
    return s;
  }
}
