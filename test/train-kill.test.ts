// `gtr train` killed for real (issue 19, items 1, 5, 13): SIGKILL in the middle of writing a
// checkpoint, between a checkpoint and `latest`, and in the middle of a step, then resume to the
// end; the run must continue from the last complete step with its logs intact, no temporaries or
// lock left, and end with weights bitwise equal to an uninterrupted run (CPU, fp32). SIGTERM saves
// and exits 143, like SIGINT.
import { afterAll, describe, expect, it, beforeAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tinyModelScratch, tinyTrainArgs } from './helpers/tiny.js';
import { fixturesDir } from './helpers/paths.js';
import { killAll, startTrain } from './helpers/train-process.js';

const { scratch, modelDir } = tinyModelScratch('gtr-kill-', 3);
const hook = pathToFileURL(join(fixturesDir, 'faults', 'pause-in-checkpoint.mjs')).href;
afterAll(() => killAll());

const args = (run: string, steps: number, extra: string[] = []) => [
  ...tinyTrainArgs(modelDir, join(scratch, run), [
    'checkpoint.keep_last=10',
    'rollout.max_new_tokens=8',
    `train.steps=${steps}`,
    ...extra,
  ]),
];

/** Starts `gtr train` (with the fault hook preloaded); `waitFor` resolves once the output matches. */
function start(trainArgs: string[], env: Record<string, string> = {}) {
  return startTrain(trainArgs, env, ['--import', hook]);
}

const jsonl = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l));
const trainSteps = (dir: string) =>
  jsonl(join(dir, 'metrics.jsonl'))
    .filter((r) => r.kind === 'train')
    .map((r) => r.step);
/** Every path under `dir`, relative. */
const walk = (dir: string, rel = ''): string[] =>
  readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => [
    join(rel, e.name),
    ...(e.isDirectory() ? walk(dir, join(rel, e.name)) : []),
  ]);
const weights = (dir: string, step: number) =>
  readFileSync(join(dir, 'checkpoints', `step-${String(step).padStart(6, '0')}`, 'policy', 'model.safetensors'));

describe('gtr train under SIGKILL and SIGTERM', () => {
  it('SIGKILL mid-checkpoint, before `latest` and mid-step, then resume: continues from the last complete step, logs intact, nothing left over', async () => {
    const dir = join(scratch, 'killed');
    const run = (env: Record<string, string> = {}, resume = true) =>
      start([...args('killed', 5, ['checkpoint.every_steps=1']), ...(resume ? ['--resume'] : [])], env);
    // 1. Killed while writing step 2's checkpoint: its policy is written, the rest is not.
    const a = run({ GTR_TEST_PAUSE_CHECKPOINT_STEP: '2' }, false);
    await a.waitFor(/PAUSED_IN_CHECKPOINT/);
    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(readdirSync(join(dir, 'checkpoints')).filter((d) => /^step-000002\.tmp-/.test(d))).toHaveLength(1);
    expect(trainSteps(dir)).toEqual([1, 2]); // step 2 was logged, never saved
    expect(existsSync(join(dir, 'run.lock'))).toBe(true); // the lock of a dead process

    // 2. Resumed after step 1; killed once step 3's checkpoint is committed but before `latest` names it.
    const b = run({ GTR_TEST_PAUSE_LATEST_STEP: '3' });
    await b.waitFor(/PAUSED_BEFORE_LATEST/);
    b.child.kill('SIGKILL');
    await b.exited;
    expect(b.out()).toMatch(/cleared 1 temporaries of an interrupted write: checkpoints\/step-000002\.tmp-/);
    expect(b.out()).toMatch(/log lines after step 1 moved to metrics\.after-step-1\./);
    expect(b.out()).toMatch(/resuming \S+killed after step 1 \(checkpoints\/step-000001\)/);
    expect(readFileSync(join(dir, 'latest'), 'utf8').trim()).toBe('checkpoints/step-000002');

    // 3. Resumed after step 3 (found by the scan, not `latest`); killed in the middle of step 5.
    const c = run();
    await c.waitFor(/checkpoint \S*step-000004/);
    c.child.kill('SIGKILL');
    await c.exited;
    expect(c.out()).toMatch(/resuming \S+killed after step 3 /);

    // 4. Resumed after step 4, to the end.
    const d = run();
    expect((await d.exited).code).toBe(0);
    expect(d.out()).toMatch(/resuming \S+killed after step 4 /);

    expect(trainSteps(dir)).toEqual([1, 2, 3, 4, 5]);
    expect(jsonl(join(dir, 'samples.jsonl')).map((r) => r.step)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    const aside = readdirSync(dir).filter((f) => /^metrics\.after-step-1\..+\.jsonl$/.test(f));
    expect(aside.flatMap((f) => jsonl(join(dir, f)).map((r) => r.step))).toEqual([2]); // moved, not lost
    expect(walk(dir).filter((p) => /\.tmp|\.old-|run\.lock/.test(p))).toEqual([]);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual([
      'step-000001',
      'step-000002',
      'step-000003',
      'step-000004',
      'step-000005',
    ]);
    expect(readFileSync(join(dir, 'latest'), 'utf8').trim()).toBe('checkpoints/step-000005');

    const straight = start(args('straight', 5, ['checkpoint.every_steps=5']));
    expect((await straight.exited).code).toBe(0);
    expect(weights(dir, 5).equals(weights(join(scratch, 'straight'), 5))).toBe(true);
  }, 240_000);

  it('SIGTERM saves the last completed step and exits 143', async () => {
    const t = start(args('term', 50, ['checkpoint.every_steps=100']));
    await t.waitFor(/step 1\/50/);
    t.child.kill('SIGTERM');
    const { code } = await t.exited;
    expect(t.out()).toMatch(/SIGTERM: saving a checkpoint/);
    expect(code).toBe(143);
    const last = Number(/interrupted after step (\d+)/.exec(t.out())![1]);
    expect(last).toBeGreaterThanOrEqual(1);
    const state = JSON.parse(
      readFileSync(
        join(scratch, 'term', 'checkpoints', `step-${String(last).padStart(6, '0')}`, 'loop-state.json'),
        'utf8',
      ),
    );
    expect(state.step).toBe(last);
    expect(trainSteps(join(scratch, 'term'))).toEqual(Array.from({ length: last }, (_, i) => i + 1));
  }, 120_000);

  it('SIGHUP (a closed terminal, a dropped SSH session) saves like SIGTERM and exits 129', async () => {
    // Issue 32: SIGHUP killed the run without saving (exit 129 by the default action).
    const t = start(args('hup', 50, ['checkpoint.every_steps=100']));
    await t.waitFor(/step 1\/50/);
    t.child.kill('SIGHUP');
    const { code, signal } = await t.exited;
    expect(signal).toBeNull();
    expect(code, t.out()).toBe(129);
    expect(t.out()).toMatch(/SIGHUP: saving a checkpoint/);
    const last = Number(/interrupted after step (\d+)/.exec(t.out())![1]);
    const dir = join(scratch, 'hup', 'checkpoints', `step-${String(last).padStart(6, '0')}`);
    expect(JSON.parse(readFileSync(join(dir, 'loop-state.json'), 'utf8')).step).toBe(last);
  }, 120_000);

  it('SIGKILL during a periodic evaluation: --resume runs that evaluation before going on', async () => {
    // Issue 32: the resumed run went on at the next step; step N never got eval/step-N.json or an
    // eval row, and nothing said so.
    const bench = join(scratch, 'bench.jsonl');
    writeFileSync(bench, '{"id":"b1","problem":"1+1?","answer":"2"}\n{"id":"b2","problem":"2+2?","answer":"4"}\n');
    const evalArgs = (steps: number) =>
      args('evalkill', steps, [
        'eval.every_steps=1',
        `eval.benchmarks=[${bench}]`,
        'eval.n=1',
        'eval.k=[1]',
        'eval.max_new_tokens=4',
        'checkpoint.every_steps=1',
      ]);
    const a = start(evalArgs(3), { GTR_TEST_PAUSE_EVAL_STEP: '2' });
    await a.waitFor(/PAUSED_IN_EVAL/);
    a.child.kill('SIGKILL');
    await a.exited;
    const dir = join(scratch, 'evalkill');
    const evalRows = () =>
      jsonl(join(dir, 'metrics.jsonl'))
        .filter((r) => r.kind === 'eval')
        .map((r) => r.step);
    expect(evalRows()).toEqual([1]); // step 2 saved, its evaluation lost
    const b = start([...evalArgs(3), '--resume']);
    expect((await b.exited).code, b.out()).toBe(0);
    expect(b.out()).toMatch(/resuming \S+evalkill after step 2 /);
    expect(b.out()).toMatch(/the evaluation at step 2 did not finish before the run stopped; running it now/);
    expect(evalRows()).toEqual([1, 2, 3]);
    expect(trainSteps(dir)).toEqual([1, 2, 3]);
    expect(readdirSync(join(dir, 'eval')).filter((f) => /^step-\d+\.json$/.test(f))).toEqual([
      'step-000001.json',
      'step-000002.json',
      'step-000003.json',
    ]);
  }, 240_000);
});
