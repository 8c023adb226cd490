/**
 * How a global batch is split across data-parallel ranks: contiguous blocks in rank order (so the
 * concatenation of the ranks' blocks is the single-process order), sizes differing by at most one.
 */

/** Rank `rank`'s block [start, end) of `count` items over `worldSize` ranks. */
export function shardRange(count: number, rank: number, worldSize: number): { start: number; end: number } {
  return { start: Math.floor((rank * count) / worldSize), end: Math.floor(((rank + 1) * count) / worldSize) };
}
