// Issue 19 items 7, 8, 14: bad custom graders are found before training, counted per step, and
// contained (heap cap for worker threads; child processes for graders that kill their process).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GraderPool } from '../src/grading/index.js';
import { checkGrader, graderStepStats } from '../src/rl/grader-health.js';
import type { GradeResult } from '../src/grading/index.js';
import { cliPath } from './helpers/paths.js';
import { makePool } from './helpers/pools.js';

const bad = (f: string) => fileURLToPath(new URL(`./fixtures/bad-input/graders/${f}`, import.meta.url));
const CUSTOM = fileURLToPath(new URL('./fixtures/grader/custom-graders.ts', import.meta.url));
const row = { id: 'r1', problem: 'What is 3+4?', answer: '7', extra: {} };

describe('grader validation before step 1', () => {
  it('check() names the module when it is missing or does not parse, and passes a good one', async () => {
    for (const [file, re] of [
      [bad('missing.mjs'), /cannot load module: .*Cannot find module/],
      [bad('syntax-error.mjs'), /cannot load module: .*(Unexpected|SyntaxError|missing)/],
    ] as const) {
      const pool = makePool({ grader: { module: file }, threads: 1 });
      await expect(pool.check()).rejects.toThrow(
        new RegExp(`custom grader ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}#default: `),
      );
      await expect(pool.check()).rejects.toThrow(re);
    }
    await expect(makePool({ grader: { module: CUSTOM }, threads: 1 }).check()).resolves.toBeUndefined();
    await expect(makePool({ grader: 'math', threads: 1 }).check()).resolves.toBeUndefined();
  });

  it('checkGrader refuses graders that throw, return NaN / a string / undefined, or exit, naming reward.grader', async () => {
    const cases: Array<[string, RegExp]> = [
      ['throws.mjs', /threw: grader bug/],
      ['returns-nan.mjs', /non-finite score \(NaN\)/],
      ['returns-string.mjs', /returned string/],
      ['returns-undefined.mjs', /returned undefined/],
      ['exits-on-call.mjs', /exit|terminat/i],
    ];
    for (const [file, re] of cases) {
      const pool = makePool({ grader: { module: bad(file) }, threads: 1 });
      const err = await checkGrader(pool, row).then(
        () => null,
        (e: Error) => e,
      );
      expect(err, file).not.toBeNull();
      expect(err!.message).toMatch(/^reward\.grader: /);
      expect(err!.message).toMatch(re);
    }
    await expect(checkGrader(makePool({ grader: { module: CUSTOM }, threads: 1 }), row)).resolves.toBeUndefined();
  });
});

describe('per-step grader health', () => {
  const ok: GradeResult = { score: 1, correct: true, extracted: '7' };
  const err: GradeResult = { score: 0, correct: false, extracted: null, error: 'custom grader x: threw: boom' };
  const slow: GradeResult = {
    score: 0,
    correct: false,
    extracted: null,
    timedOut: true,
    error: 'grader timed out after 5 ms',
  };

  it('counts errors and timeouts apart and warns when some items failed', () => {
    const lines: string[] = [];
    expect(graderStepStats([ok, err, slow, err, ok], 3, (l) => lines.push(l))).toEqual({ errors: 2, timeouts: 1 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^step 3: the grader failed on 3 of 5 responses \(2 errors, 1 timeouts.*threw: boom/);
    expect(graderStepStats([ok, ok], 4, (l) => lines.push(l))).toEqual({ errors: 0, timeouts: 0 });
    expect(lines).toHaveLength(1);
  });

  it('fails the step when every item failed', () => {
    expect(() => graderStepStats([err, slow, err], 2, () => {})).toThrow(
      /^step 2: the grader failed on all 3 responses \(2 errors, 1 timeouts\); first error: custom grader x: threw: boom/,
    );
  });
});

describe('worker memory cap and process isolation', () => {
  it('a grader past the thread heap cap fails its item only; the pool keeps grading', async () => {
    const pool = makePool({
      grader: { module: bad('memory-hog.mjs') },
      threads: 1,
      maxMemoryMb: 64,
      timeoutMs: 60_000,
    });
    const [hog, after] = await pool.grade([
      { response: 'hog', row: {} },
      { response: 'fine', row: {} },
    ]);
    expect(hog).toMatchObject({ score: 0, correct: false });
    expect(hog!.timedOut).toBeUndefined();
    expect(hog!.error).toMatch(/memory/i);
    expect(after).toMatchObject({ score: 1, correct: true });
  }, 120_000);

  it('isolation: process grades like threads, survives a grader that kills its process, a heap blow-up and a hang', async () => {
    const same = makePool({ grader: { module: CUSTOM, export: 'withMetrics' }, threads: 2, isolation: 'process' });
    const [good, wrong] = await same.grade([
      { response: ' 7 ', row: { answer: 7 }, prompt: 'What is 3+4?' },
      { response: '8', row: { answer: 7 } },
    ]);
    expect(good).toEqual({ score: 2, correct: true, extracted: null, length: 3, promptChars: 12, tag: 'async' });
    expect(wrong).toMatchObject({ score: -0.5, correct: false });

    const killer = makePool({ grader: { module: bad('kills-process.mjs') }, threads: 2, isolation: 'process' });
    const res = await killer.grade(['a', 'kill', 'b', 'kill', 'c'].map((response) => ({ response, row: {} })));
    for (const i of [1, 3]) expect(res[i]!.error).toMatch(/grader process exited \(SIGKILL\)/);
    for (const i of [0, 2, 4]) expect(res[i]).toMatchObject({ score: 1, correct: true });

    const hog = makePool({
      grader: { module: bad('memory-hog.mjs') },
      threads: 1,
      isolation: 'process',
      maxMemoryMb: 64,
      timeoutMs: 60_000,
    });
    const [h, fine] = await hog.grade([
      { response: 'hog', row: {} },
      { response: 'x', row: {} },
    ]);
    expect(h!.error).toMatch(/grader process exited .*heap cap is 64 MB/);
    expect(fine).toMatchObject({ score: 1 });

    const hang = makePool({ grader: { module: CUSTOM }, threads: 1, isolation: 'process', timeoutMs: 2000 });
    const [stuck, next] = await hang.grade([
      { response: 'hang', row: { answer: 'x' } },
      { response: 'z', row: { answer: 'z' } },
    ]);
    expect(stuck).toMatchObject({ timedOut: true, score: 0 });
    expect(stuck!.error).toMatch(/timed out after 2000 ms/);
    expect(next).toMatchObject({ score: 1, correct: true });

    const missing = makePool({ grader: { module: bad('missing.mjs') }, threads: 1, isolation: 'process' });
    await expect(missing.check()).rejects.toThrow(/cannot load module/);
  }, 120_000);
});

describe('a paused process', () => {
  it('does not count the pause against the grader timeout (threads and processes)', async () => {
    // Issue 32: a 12 s SIGSTOP while grading scored correct answers as timeouts. Here the process
    // is stopped for 4 s while a 1 s grader runs under a 2.5 s timeout.
    for (const isolation of ['thread', 'process'] as const) {
      const pool = makePool({ grader: { module: bad('slow.mjs') }, threads: 1, isolation, timeoutMs: 2500 });
      await pool.check(); // worker started: its start-up is not what is measured
      const pauser = spawn('sh', ['-c', `sleep 0.3; kill -STOP ${process.pid}; sleep 4; kill -CONT ${process.pid}`], {
        stdio: 'ignore',
      });
      const t0 = Date.now();
      const [r] = await pool.grade([{ response: 'x', row: {} }]);
      await new Promise((res) => pauser.once('exit', res));
      expect(Date.now() - t0, isolation).toBeGreaterThan(4000); // the pause happened while grading
      expect(r, isolation).toMatchObject({ score: 1, correct: true });
      expect(r!.timedOut, isolation).toBeUndefined();
    }
  }, 60_000);
});

describe('grader child processes do not outlive the trainer', () => {
  /** True while `pid` runs (a zombie waiting for its reaper counts as gone). */
  const alive = (pid: number) =>
    existsSync(`/proc/${pid}/stat`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const childrenOf = (pid: number) =>
    readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

  it('a child stuck in a hung grader dies within seconds of its parent being SIGKILLed', async () => {
    const parent = spawn(
      process.execPath,
      [
        cliPath,
        'grade',
        '--grader',
        CUSTOM,
        '--gold',
        '1',
        '--response',
        'hang',
        '--isolation',
        'process',
        '--timeout',
        '60000',
      ],
      { stdio: 'ignore' },
    );
    let kids: number[] = [];
    for (let i = 0; i < 100 && kids.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      kids = childrenOf(parent.pid!);
    }
    expect(kids.length).toBe(1);
    await new Promise((r) => setTimeout(r, 1500)); // the child is now in the grader's endless loop
    parent.kill('SIGKILL');
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = !alive(kids[0]!);
    }
    if (!gone) process.kill(kids[0]!, 'SIGKILL');
    expect(gone).toBe(true);
  }, 60_000);
});
