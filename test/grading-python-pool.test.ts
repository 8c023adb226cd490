/**
 * The math_verify grader's Python pool: timeout, crash isolation, worker replacement, and
 * agreement with math-verify run directly.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GraderPool, mathVerifyAvailable, PythonGraderPool } from '../src/grading/index.js';
import { PYTHON_BASE_MB } from '../src/grading/python-pool.js';
import { readFixtureJsonl } from './helpers/paths.js';

const fake = fileURLToPath(new URL('./fixtures/grader/fake_math_verify_worker.py', import.meta.url));
const python = spawnSync('python3', ['--version']);
const hasPython = !python.error && python.status === 0;
const mv = hasPython ? mathVerifyAvailable() : { ok: false as const, reason: 'python3 not found' };
if (!hasPython) console.warn('SKIP python grader pool tests: python3 not found');
if (!mv.ok) console.warn(`SKIP math_verify grader tests: ${mv.reason}`);

describe.skipIf(!hasPython)('PythonGraderPool: timeout, crash isolation, replacement', () => {
  const row = (gold: string) => ({ gold });

  it('caps each worker at maxMemoryMb (+ the interpreter base): a larger allocation fails its item alone', async () => {
    const probe = fileURLToPath(new URL('./fixtures/grader/memory_probe_worker.py', import.meta.url));
    const pool = new PythonGraderPool({ script: probe, processes: 1, timeoutMs: 20_000, maxMemoryMb: 64 });
    try {
      const r = await pool.grade([
        { response: '16', row: row('x') },
        { response: '2048', row: row('x') },
        { response: '16', row: row('x') },
      ]);
      expect(pool.version).toBe(String(64 + PYTHON_BASE_MB));
      expect(r.map((x) => x.correct)).toEqual([true, false, true]);
      expect(r[1]!.error).toMatch(/MemoryError/);
    } finally {
      await pool.destroy();
    }
    const uncapped = new PythonGraderPool({ script: probe, processes: 1, timeoutMs: 20_000 });
    try {
      expect((await uncapped.grade([{ response: '1024', row: row('x') }]))[0]!.correct).toBe(true);
      expect(uncapped.version).toBe('none');
    } finally {
      await uncapped.destroy();
    }
  }, 60_000);

  it('a hung item times out, a crashing item fails alone, both workers are replaced', async () => {
    const pool = new PythonGraderPool({ script: fake, processes: 1, timeoutMs: 1500 });
    try {
      const items = [
        { response: 'a', row: row('a') },
        { response: 'HANG', row: row('a') },
        { response: 'b', row: row('b') },
        { response: 'CRASH', row: row('a') },
        { response: 'x', row: row('y') },
        { response: 'c', row: row('c') },
      ];
      const t0 = Date.now();
      const r = await pool.grade(items);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(r.map((x) => x.correct)).toEqual([true, false, true, false, false, true]);
      expect(r[1]).toMatchObject({ score: 0, timedOut: true, error: 'grader timed out after 1500 ms' });
      expect(r[3]!.timedOut).toBeUndefined();
      expect(r[3]!.error).toMatch(/exited \(code 7\)/);
      expect(r[4]).toMatchObject({ score: 0, correct: false, extracted: 'x' });
      expect(pool.replaced).toBe(2);
      expect(pool.version).toBe('fake');
    } finally {
      await pool.destroy();
    }
  }, 30_000);

  it('runs items in parallel on several processes and keeps input order', async () => {
    const pool = new PythonGraderPool({ script: fake, processes: 3, timeoutMs: 5000 });
    try {
      const items = Array.from({ length: 30 }, (_, i) => ({ response: String(i % 7), row: row(String(i % 5)) }));
      const r = await pool.grade(items);
      expect(r.map((x) => x.correct)).toEqual(items.map((it) => it.response === it.row.gold));
      expect(r.map((x) => x.extracted)).toEqual(items.map((it) => it.response));
    } finally {
      await pool.destroy();
    }
  }, 30_000);

  it('rejects with the reason when no worker can start', async () => {
    const pool = new PythonGraderPool({ python: 'python3-does-not-exist', processes: 1 });
    await expect(pool.grade([{ response: '1', row: row('1') }])).rejects.toThrow(/python3-does-not-exist/);
    await pool.destroy();
    // A Python without site-packages cannot import math_verify: the error says how to install it.
    const dir = mkdtempSync(join(tmpdir(), 'gtr-py-'));
    try {
      const bare = join(dir, 'python-bare');
      writeFileSync(bare, '#!/bin/sh\nexec python3 -S "$@"\n');
      chmodSync(bare, 0o755);
      const p2 = new PythonGraderPool({ python: bare, processes: 1 });
      await expect(p2.grade([{ response: '1', row: row('1') }])).rejects.toThrow(
        /cannot import math_verify .*pip install math-verify==0\.9\.0/,
      );
      await p2.destroy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe.skipIf(!mv.ok)('math_verify grader: agrees with the package run directly', () => {
  const cases = readFixtureJsonl<{ gold: string; response: string }>('grader-cases.jsonl').filter(
    (_, i) => i % 6 === 0,
  );
  let pool: GraderPool | null = null;
  afterAll(async () => pool?.destroy());

  it(`grades a sample of labelled cases exactly as math_verify.verify does`, async () => {
    // The reference: verl's math_verify rule, run in one plain Python process.
    const script = [
      'import json,sys',
      'from math_verify import parse, verify, LatexExtractionConfig, ExprExtractionConfig',
      'out=[]',
      'for c in json.load(sys.stdin):',
      '  g=parse("\\\\boxed{"+c["gold"]+"}",[LatexExtractionConfig()]); p=parse(c["response"],[ExprExtractionConfig(),LatexExtractionConfig()])',
      '  out.append(bool(g) and bool(p) and bool(verify(g,p)))',
      'print(json.dumps(out))',
    ].join('\n');
    const ref = spawnSync('python3', ['-c', script], {
      input: JSON.stringify(cases),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(ref.status, ref.stderr).toBe(0);
    const expected = JSON.parse(ref.stdout) as boolean[];
    pool = new GraderPool({ grader: 'math_verify', threads: 2, timeoutMs: 20_000 });
    const got = await pool.grade(cases.map((c) => ({ response: c.response, row: { gold: c.gold } })));
    expect(got.map((r) => r.correct)).toEqual(expected);
    expect(got.every((r) => r.score === (r.correct ? 1 : 0))).toBe(true);
    expect(expected.filter(Boolean).length).toBeGreaterThan(cases.length / 2);
  }, 180_000);
});
