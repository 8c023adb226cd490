/**
 * A small seeded PRNG: xoshiro128** (Blackman & Vigna, 2018) seeded through splitmix32, plus an
 * unbiased integer draw and a Fisher-Yates shuffle. 32-bit integer arithmetic only, so results are
 * identical on every platform and Node version.
 */

/** splitmix32 step: returns [output, nextState] (Vigna's splitmix64 constants, 32-bit variant). */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [(z ^ (z >>> 16)) >>> 0, next];
}

/** Mixes a list of 32-bit integers into one well-spread 32-bit seed. */
export function mixSeeds(...parts: number[]): number {
  let h = 0x243f6a88;
  for (const p of parts) {
    const [out] = splitmix32((h ^ (p >>> 0)) | 0);
    h = out;
  }
  return h >>> 0;
}

/** xoshiro128** generator over 32-bit unsigned integers. */
export class Xoshiro128 {
  private s: Uint32Array;

  /** @param seed any integer; only its low 32 bits are used */
  constructor(seed: number) {
    this.s = new Uint32Array(4);
    let st = seed | 0;
    for (let i = 0; i < 4; i++) {
      const [out, next] = splitmix32(st);
      this.s[i] = out;
      st = next;
    }
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1; // all-zero state is a fixed point
  }

  /** Next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const x = Math.imul(s[1]!, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = (s[3]! << 11) | (s[3]! >>> 21);
    return result;
  }

  /** Uniform integer in [0, bound), bound in [1, 2^32], without modulo bias (rejection sampling). */
  nextInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 32)
      throw new RangeError(`nextInt bound must be an integer in [1, 2^32], got ${bound}`);
    const limit = 2 ** 32 - (2 ** 32 % bound); // accept x < limit
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % bound;
    }
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 2 ** 32;
  }
}

/** In-place Fisher-Yates shuffle of `arr` driven by `rng`; returns `arr`. */
export function shuffleInPlace<T>(arr: T[] | Uint32Array, rng: Xoshiro128): T[] | Uint32Array {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    const tmp = arr[i]!;
    arr[i] = arr[j]!;
    arr[j] = tmp;
  }
  return arr;
}
