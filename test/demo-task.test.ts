// The demo's synthetic arithmetic task: seeded determinism, disjoint splits, correct gold answers,
// solutions that are the gold "Answer:" line, and JSONL rows the dataset reader accepts.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/load.js';
import { generateTask, writeTaskJsonl } from '../src/demo/task.js';
import { gradeMath } from '../src/grading/index.js';
import { scratchDir } from './helpers/scratch.js';

const dir = scratchDir('gtr-demo-task-');

describe('demo task', () => {
  it('is deterministic in the seed', () => {
    const a = generateTask({ train: 300, heldOut: 50, seed: 3 });
    const b = generateTask({ train: 300, heldOut: 50, seed: 3 });
    const c = generateTask({ train: 300, heldOut: 50, seed: 4 });
    expect(b).toEqual(a);
    expect(c.train.map((p) => p.problem)).not.toEqual(a.train.map((p) => p.problem));
  });

  it('has disjoint, duplicate-free splits of the requested sizes', () => {
    const { train, heldOut } = generateTask({ train: 3000, heldOut: 200, seed: 0 });
    expect(train).toHaveLength(3000);
    expect(heldOut).toHaveLength(200);
    const held = new Set(heldOut.map((p) => p.problem));
    expect(held.size).toBe(200);
    expect(new Set(train.map((p) => p.problem)).size).toBe(3000);
    expect(train.filter((p) => held.has(p.problem))).toEqual([]);
    expect(new Set([...train, ...heldOut].map((p) => p.id)).size).toBe(3200);
  });

  it('has correct gold answers and solutions the math grader accepts', () => {
    const { train } = generateTask({ train: 500, heldOut: 0, seed: 1 });
    const ops = new Set<string>();
    for (const p of train) {
      ops.add(p.op);
      const v = p.op === '+' ? p.a + p.b : p.op === '-' ? p.a - p.b : p.a * p.b;
      expect(p.answer).toBe(String(v));
      expect(p.problem).toBe(`${p.a}${p.op}${p.b}=`);
      expect(p.solution).toBe(`Answer: ${p.answer}`);
      expect(p.a).toBeGreaterThanOrEqual(10);
      expect(p.a).toBeLessThan(100);
      expect(p.b).toBeLessThan(100);
      if (p.op === '-') expect(p.a).toBeGreaterThanOrEqual(p.b);
      expect(gradeMath(p.solution, p.answer).correct).toBe(true);
    }
    expect([...ops].sort()).toEqual(['+', '-']);
  });

  it('writes JSONL rows the dataset reader loads (solution kept in extra)', async () => {
    const { heldOut } = generateTask({ train: 0, heldOut: 20, seed: 2 });
    const file = join(dir, 'heldout.jsonl');
    writeTaskJsonl(file, heldOut);
    const ds = await loadDataset(file);
    expect(ds.rows).toHaveLength(20);
    expect(ds.rows[0]).toEqual({
      id: heldOut[0]!.id,
      problem: heldOut[0]!.problem,
      answer: heldOut[0]!.answer,
      extra: { solution: heldOut[0]!.solution },
    });
  });

  it('rejects bad sizes', () => {
    expect(() => generateTask({ train: -1 })).toThrow(/train must be a non-negative integer/);
  });
});
