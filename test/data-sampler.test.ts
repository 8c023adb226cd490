import { describe, expect, it } from 'vitest';
import { PromptSampler, shuffleInPlace, Xoshiro128 } from '../src/data/index.js';

describe('PRNG', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Xoshiro128(42);
    const b = new Xoshiro128(42);
    const c = new Xoshiro128(43);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xs);
    for (const x of xs) expect(x >>> 0).toBe(x);
  });

  it('nextInt is roughly uniform and in range', () => {
    const r = new Xoshiro128(7);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[r.nextInt(5)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.nextInt(0)).toThrow(RangeError);
  });

  it('shuffle is a permutation', () => {
    const arr = Array.from({ length: 100 }, (_, i) => i);
    shuffleInPlace(arr, new Xoshiro128(1));
    expect([...arr].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(arr).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});

describe('PromptSampler', () => {
  it('is deterministic for a seed and visits every row once per epoch', () => {
    const a = new PromptSampler(10, 123);
    const b = new PromptSampler(10, 123);
    const ea = a.next(10);
    expect(b.next(10)).toEqual(ea);
    expect([...ea].sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(a.epoch).toBe(0);
    const second = a.next(10);
    expect(a.epoch).toBe(1);
    expect([...second].sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(second).not.toEqual(ea); // a fresh shuffle per epoch
    expect(new PromptSampler(10, 124).next(10)).not.toEqual(ea);
  });

  it('rolls over epoch boundaries inside one request', () => {
    const s = new PromptSampler(5, 9);
    const all = s.next(12);
    expect(all).toHaveLength(12);
    expect(all.slice(0, 5)).toEqual(Array.from(PromptSampler.permutation(5, 9, 0)));
    expect(all.slice(5, 10)).toEqual(Array.from(PromptSampler.permutation(5, 9, 1)));
    expect(s.state()).toEqual({ version: 1, n: 5, seed: 9, epoch: 2, cursor: 2 });
  });

  it('resumes exactly from state() (also through JSON)', () => {
    const ref = new PromptSampler(37, 2024);
    const expected = [ref.next(8), ref.next(8), ref.next(8), ref.next(30), ref.next(3)];
    const s = new PromptSampler(37, 2024);
    const got = [s.next(8), s.next(8)];
    const resumed = PromptSampler.fromState(JSON.parse(JSON.stringify(s.state())), 37);
    got.push(resumed.next(8), resumed.next(30), resumed.next(3));
    expect(got).toEqual(expected);
  });

  it('validates its inputs and the resumed dataset size', () => {
    expect(() => new PromptSampler(0, 1)).toThrow(/positive integer/);
    expect(() => new PromptSampler(3, 1.5)).toThrow(/integer/);
    expect(() => new PromptSampler(3, 1).next(-1)).toThrow(RangeError);
    const st = new PromptSampler(4, 1).state();
    expect(() => PromptSampler.fromState(st, 5)).toThrow('PromptSampler state is for 4 rows but the dataset has 5');
    expect(() => PromptSampler.fromState({ ...st, cursor: 9 })).toThrow(/cursor 9 outside/);
  });
});
