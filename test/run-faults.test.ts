// Faults around a run directory (issue 19, items 1, 3-6, 10, 13), each on the real loop with a random
// tiny Qwen3 on real DAPO prompts: a moved run dir and a deleted `latest`, log lines of steps never
// checkpointed, a changed recipe on resume, a second process on a live run, temporaries a killed
// writer left, a missing benchmark, a failing or interrupted evaluation, and every update skipped.
import { beforeAll, describe, expect, it, afterAll } from 'vitest';
import { spawnSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Recipe } from '../src/recipe/index.js';
import { nativeEngines } from '../src/rl/adapters.js';
import type { EngineFactory } from '../src/rl/loop.js';
import { train } from '../src/rl/loop.js';
import { RunDir } from '../src/run/dir.js';
import { lockRunDir } from '../src/run/lock.js';
import { trainingImpact } from '../src/run/resume.js';
import { applyRecipeChanges, diffRecipes } from '../src/recipe/diff.js';
import { tinyModelScratch, tinyRecipe } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-faults-', 5);
const bench = join(scratch, 'bench.jsonl');
beforeAll(async () => {
  writeFileSync(
    bench,
    ['{"id":"b1","problem":"1+1?","answer":"2"}', '{"id":"b2","problem":"2+2?","answer":"4"}'].join('\n') + '\n',
  );
});

const runPath = (run: string) => join(scratch, run);
function recipe(run: string, extra: string[] = []): Recipe {
  return tinyRecipe(modelDir, runPath(run), [
    'checkpoint.every_steps=1',
    'checkpoint.keep_last=5',
    'rollout.max_new_tokens=8',
    ...extra,
  ]);
}
const lines = (f: string) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
const steps = (run: string) =>
  lines(join(runPath(run), 'metrics.jsonl'))
    .map((l) => JSON.parse(l))
    .filter((r) => r.kind === 'train')
    .map((r) => r.step);
const quiet = () => {};
const evalSettings = [`eval.benchmarks=[${bench}]`, 'eval.n=1', 'eval.k=[1]', 'eval.max_new_tokens=4'];

/** nativeEngines whose rollout calls `onEval` instead of sampling when asked for eval.max_new_tokens = 4. */
const withEvalHook =
  (onEval: (signal?: AbortSignal) => Promise<never>): EngineFactory =>
  (policy, ref, r) => {
    const e = nativeEngines(policy, ref, r);
    return {
      ...e,
      rollout: {
        generate: (p, req, signal) => (req.maxNewTokens === 4 ? onEval(signal) : e.rollout.generate(p, req, signal)),
      },
    };
  };

describe('resume', () => {
  it('finds the newest checkpoint after the run dir moved and `latest` is gone; keeps logs, moves later lines aside', async () => {
    await train(recipe('moved-a', ['train.steps=2']), { engines: nativeEngines, log: quiet });
    const before = lines(join(runPath('moved-a'), 'metrics.jsonl'));
    const ino = statSync(join(runPath('moved-a'), 'checkpoints', 'step-000001', 'loop-state.json')).ino;
    renameSync(runPath('moved-a'), runPath('moved-b'));
    rmSync(join(runPath('moved-b'), 'latest'));
    // Lines of a step that was never checkpointed, the last cut short by a kill.
    appendFileSync(
      join(runPath('moved-b'), 'metrics.jsonl'),
      '{"step":3,"kind":"train","never_saved":true}\n{"step":3,"ki',
    );
    mkdirSync(join(runPath('moved-b'), 'eval'));
    writeFileSync(join(runPath('moved-b'), 'eval', 'step-000003.json'), 'a report of the lost step 3');
    const log: string[] = [];
    await train(recipe('moved-b', ['train.steps=3']), {
      engines: nativeEngines,
      log: (l) => log.push(l),
      resume: true,
    });
    expect(log.join('\n')).toMatch(/resuming .*moved-b after step 2/);
    const after = lines(join(runPath('moved-b'), 'metrics.jsonl'));
    expect(after.slice(0, 2)).toEqual(before); // not retrained, not rewritten
    expect(steps('moved-b')).toEqual([1, 2, 3]);
    expect(after.join('\n')).not.toContain('never_saved');
    const aside = readdirSync(runPath('moved-b')).filter((f) => /^metrics\.after-step-2\..+\.jsonl$/.test(f));
    expect(aside).toHaveLength(1);
    expect(lines(join(runPath('moved-b'), aside[0]!))).toEqual([
      '{"step":3,"kind":"train","never_saved":true}',
      '{"step":3,"ki',
    ]);
    const evalAside = readdirSync(join(runPath('moved-b'), 'eval'));
    expect(evalAside).toEqual([expect.stringMatching(/^step-000003\.after-step-2\..+\.json$/)]);
    expect(readFileSync(join(runPath('moved-b'), 'eval', evalAside[0]!), 'utf8')).toBe('a report of the lost step 3');
    expect(statSync(join(runPath('moved-b'), 'checkpoints', 'step-000001', 'loop-state.json')).ino).toBe(ino); // never overwritten
    expect(readFileSync(join(runPath('moved-b'), 'latest'), 'utf8').trim()).toBe('checkpoints/step-000003'); // relative
  });

  it('a truncated safetensors file in the newest checkpoint falls back like a missing trainer.state; a failed resume records no recipe change', async () => {
    // Issue 32: a truncated file stopped --resume with a file-level error while a missing
    // trainer.state fell back, and recipe-changes.jsonl was appended before the failure.
    await train(recipe('trunc', ['train.steps=3']), { engines: nativeEngines, log: quiet });
    const ck = (n: number) => join(runPath('trunc'), 'checkpoints', `step-00000${n}`);
    const weights = join(ck(3), 'policy', 'model.safetensors');
    truncateSync(weights, statSync(weights).size - 1000); // a copy or a disk that stopped short
    rmSync(join(ck(2), 'trainer.state'), { recursive: true });
    const changes = join(runPath('trunc'), 'recipe-changes.jsonl');
    // A resume that fails after the recipe check (here: the engines cannot be built) records nothing.
    const log: string[] = [];
    await expect(
      train(recipe('trunc', ['train.steps=4']), {
        engines: () => {
          throw new Error('no engine today');
        },
        log: (l) => log.push(l),
        resume: true,
      }),
    ).rejects.toThrow('no engine today');
    expect(existsSync(changes)).toBe(false);
    await train(recipe('trunc', ['train.steps=4']), { engines: nativeEngines, log: (l) => log.push(l), resume: true });
    const text = log.join('\n');
    expect(text).toMatch(
      /checkpoints\/step-000003 cannot be resumed from \(policy\/model\.safetensors is damaged: .*\); moving it aside/,
    );
    expect(text).toMatch(
      /checkpoints\/step-000002 cannot be resumed from \(trainer\.state is missing\); moving it aside/,
    );
    expect(text).toMatch(/resuming .*trunc after step 1 /);
    expect(steps('trunc')).toEqual([1, 2, 3, 4]);
    expect(lines(changes).map((l) => JSON.parse(l).changes)).toEqual([[{ key: 'train.steps', from: 3, to: 4 }]]);
  });

  it('prunes checkpoints set aside by a resume once their step is saved again; a full disk says what keep_last needs', async () => {
    // Issue 32: step-N.unused-* directories were never pruned, so keep_last: 1 needed room for two
    // checkpoints, and the ENOSPC error did not say so.
    await train(recipe('aside', ['train.steps=2', 'checkpoint.keep_last=2']), { engines: nativeEngines, log: quiet });
    rmSync(join(runPath('aside'), 'checkpoints', 'step-000002', 'trainer.state'), { recursive: true });
    const log: string[] = [];
    await train(recipe('aside', ['train.steps=3', 'checkpoint.keep_last=1']), {
      engines: nativeEngines,
      log: (l) => log.push(l),
      resume: true,
    });
    expect(log.join('\n')).toMatch(
      /deleted checkpoints\/step-000002\.unused-\S+, set aside by a resume and superseded by step 2/,
    );
    expect(readdirSync(join(runPath('aside'), 'checkpoints'))).toEqual(['step-000003']);

    // The disk fills while step 4's trainer state is written.
    const full: EngineFactory = (p, ref, r) => {
      const e = nativeEngines(p, ref, r);
      return {
        ...e,
        trainer: {
          ...e.trainer,
          saveState: async () => {
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          },
        },
      };
    };
    await expect(
      train(recipe('aside', ['train.steps=4', 'checkpoint.keep_last=1']), { engines: full, log: quiet, resume: true }),
    ).rejects.toThrow(
      /checkpoint step 4: no space left in .*aside: ENOSPC: no space left on device, write\. checkpoint\.keep_last = 1 keeps 1 checkpoints, and the next one is written before the oldest is deleted, so the disk needs room for 2 \(the last one, checkpoints\/step-000003, takes [\d.]+ GiB\)\. Free space .*then --resume/,
    );
    expect(readdirSync(join(runPath('aside'), 'checkpoints')).filter((d) => !d.includes('.tmp-'))).toEqual([
      'step-000003',
    ]);
  });

  it('keeps resolved.yaml, refuses a change that alters training unless allowed, and records what it accepts', async () => {
    await train(recipe('rc', ['train.steps=1']), { engines: nativeEngines, log: quiet });
    const yaml = readFileSync(join(runPath('rc'), 'resolved.yaml'), 'utf8');
    const changed = recipe('rc', ['train.steps=2', 'train.lr=0.5']);
    await expect(train(changed, { engines: nativeEngines, log: quiet, resume: true })).rejects.toThrow(
      /train\.lr: 0\.0001 -> 0\.5 \(changes training\)[\s\S]*--allow-recipe-change/,
    );
    expect(readFileSync(join(runPath('rc'), 'resolved.yaml'), 'utf8')).toBe(yaml);
    expect(steps('rc')).toEqual([1]);
    expect(existsSync(join(runPath('rc'), 'recipe-changes.jsonl'))).toBe(false);

    await train(changed, { engines: nativeEngines, log: quiet, resume: true, allowRecipeChange: true });
    expect(readFileSync(join(runPath('rc'), 'resolved.yaml'), 'utf8')).toBe(yaml);
    expect(steps('rc')).toEqual([1, 2]);
    const rec = lines(join(runPath('rc'), 'recipe-changes.jsonl')).map((l) => JSON.parse(l));
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({ resumed_after_step: 1, accepted: '--allow-recipe-change' });
    expect(rec[0].changes).toEqual([
      { key: 'train.steps', from: 1, to: 2 },
      { key: 'train.lr', from: 0.0001, to: 0.5 },
    ]);
    // Accepted changes are part of the run's recipe now: the same values again are no change.
    await train(recipe('rc', ['train.steps=3', 'train.lr=0.5']), { engines: nativeEngines, log: quiet, resume: true });
    expect(lines(join(runPath('rc'), 'recipe-changes.jsonl')).map((l) => JSON.parse(l).changes)).toEqual([
      rec[0].changes,
      [{ key: 'train.steps', from: 2, to: 3 }],
    ]);
  });

  it('classifies keys: placement and evaluation are harmless, the optimiser and (cosine) length are not', () => {
    const r = recipe('x');
    expect(trainingImpact('eval.n', r)).toBeUndefined();
    expect(trainingImpact('run.dir', r)).toBeUndefined();
    expect(trainingImpact('train.steps', r)).toBeUndefined();
    expect(trainingImpact('train.steps', recipe('x', ['train.schedule=cosine']))).toMatch(/cosine/);
    expect(trainingImpact('algorithm.loss.sigma', r)).toBe('changes training');
    const changes = diffRecipes(r, recipe('x', ['rollout.stop_token_ids=[5]', 'eval.k=[1]']));
    expect(changes).toEqual([
      { key: 'rollout.stop_token_ids', from: [], to: [5] },
      { key: 'eval.k', from: [1, 2], to: [1] },
    ]);
    expect(
      diffRecipes(applyRecipeChanges(r, changes), recipe('x', ['rollout.stop_token_ids=[5]', 'eval.k=[1]'])),
    ).toEqual([]);
    expect(() => applyRecipeChanges(r, [{ key: '__proto__.x', from: 1, to: 2 }])).toThrow(/invalid key/);
  });
});

describe('the run-directory lock', () => {
  it("a second process on a live run fails naming the holder; a dead holder's lock is taken over", async () => {
    await train(recipe('lock', ['train.steps=1']), { engines: nativeEngines, log: quiet });
    const release = lockRunDir(runPath('lock'));
    try {
      await expect(
        train(recipe('lock', ['train.steps=2']), { engines: nativeEngines, log: quiet, resume: true }),
      ).rejects.toThrow(new RegExp(`lock is in use by pid ${process.pid} on .*started`));
    } finally {
      release();
    }
    expect(steps('lock')).toEqual([1]);
    // What a SIGKILLed holder leaves: the lock directory, not yet stale by mtime, and its holder record.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    mkdirSync(join(runPath('lock'), 'run.lock'));
    writeFileSync(
      join(runPath('lock'), 'run.lock.json'),
      JSON.stringify({ pid: dead, host: hostname(), started: 'then', command: 'gtr train' }),
    );
    await train(recipe('lock', ['train.steps=2']), { engines: nativeEngines, log: quiet, resume: true });
    expect(steps('lock')).toEqual([1, 2]);
    expect(existsSync(join(runPath('lock'), 'run.lock'))).toBe(false);
  });

  it('a live holder paused (SIGSTOP) past the staleness time keeps its lock', () => {
    // Issue 32: after 60 s without a refresh, proper-lockfile called the lock stale and a second
    // --resume took it from the paused, live run. What a paused holder leaves: a live pid and a lock
    // directory whose mtime is minutes old.
    const dir = runPath('paused');
    mkdirSync(join(dir, 'run.lock'), { recursive: true });
    const holder = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      process.kill(holder.pid!, 'SIGSTOP');
      writeFileSync(
        join(dir, 'run.lock.json'),
        JSON.stringify({ pid: holder.pid, host: hostname(), started: 'then', command: 'gtr train' }),
      );
      const old = new Date(Date.now() - 5 * 60_000);
      utimesSync(join(dir, 'run.lock'), old, old);
      expect(() => lockRunDir(dir)).toThrow(new RegExp(`in use by pid ${holder.pid} on .*gtr train`));
      expect(JSON.parse(readFileSync(join(dir, 'run.lock.json'), 'utf8')).pid).toBe(holder.pid); // untouched
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('temporaries of a killed writer', () => {
  it('are removed, and a backup whose original is missing is put back', () => {
    const dir = runPath('stale');
    const ck = join(dir, 'checkpoints');
    mkdirSync(join(ck, 'step-000003.tmp-4242', 'policy'), { recursive: true }); // the old loop's name
    mkdirSync(join(ck, 'step-000004.tmp-4242-a1b2c3d4e5f6'), { recursive: true }); // saveCheckpointAtomic's
    mkdirSync(join(ck, 'step-000002.old-4242-00ff00ff00ff'), { recursive: true }); // killed between its renames
    writeFileSync(join(ck, 'step-000002.old-4242-00ff00ff00ff', 'loop-state.json'), '{"step":2}');
    mkdirSync(join(ck, 'step-000001'), { recursive: true });
    mkdirSync(join(ck, 'step-000001.old-4242-abcdefabcdef'), { recursive: true });
    writeFileSync(join(dir, 'latest.tmp'), 'x'); // earlier versions' names
    writeFileSync(join(dir, 'resolved.yaml.4242.tmp'), 'x');
    writeFileSync(join(dir, 'latest.tmp-4242-0a1b2c3d'), 'x'); // writeFileAtomic's
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    expect(new RunDir(dir).removeStaleTemporaries()).toHaveLength(7);
    expect(readdirSync(ck).sort()).toEqual(['step-000001', 'step-000002']);
    expect(readFileSync(join(ck, 'step-000002', 'loop-state.json'), 'utf8')).toBe('{"step":2}');
    expect(readdirSync(dir).sort()).toEqual(['checkpoints', 'notes.txt']);
  });
});

describe('periodic evaluation', () => {
  it('a benchmark that cannot be loaded fails the run before step 1, naming the key', async () => {
    await expect(
      train(recipe('nobench', ['eval.every_steps=1', `eval.benchmarks=[${join(scratch, 'missing.jsonl')}]`]), {
        engines: nativeEngines,
        log: quiet,
      }),
    ).rejects.toThrow(/eval\.benchmarks: cannot load ".*missing\.jsonl"/);
    expect(existsSync(join(runPath('nobench'), 'metrics.jsonl'))).toBe(false);
    expect(existsSync(join(runPath('nobench'), 'resolved.yaml'))).toBe(false); // a corrected rerun is not "already holds a run"
  });

  it('runs after the step is saved, and a failure is logged and counted while training goes on', async () => {
    const seen: boolean[] = [];
    const log: string[] = [];
    const res = await train(recipe('evalfail', ['train.steps=2', 'eval.every_steps=1', ...evalSettings]), {
      engines: withEvalHook(async () => {
        seen.push(new RunDir(runPath('evalfail')).latestResumable()?.step === seen.length + 1);
        throw new Error('benchmark server unreachable');
      }),
      log: (l) => log.push(l),
    });
    expect(res).toMatchObject({ lastStep: 2, interrupted: false, evalErrors: 2 });
    expect(seen).toEqual([true, true]); // the step's checkpoint existed when its evaluation began
    expect(
      log.filter((l) => /warning: evaluation at step \d failed.*benchmark server unreachable/.test(l)),
    ).toHaveLength(2);
    const evalRows = lines(join(runPath('evalfail'), 'metrics.jsonl'))
      .map((l) => JSON.parse(l))
      .filter((r) => r.kind === 'eval');
    expect(evalRows.map((r) => [r.step, r['val/failed'], r['val/failures_total']])).toEqual([
      [1, 1, 1],
      [2, 1, 2],
    ]);
    expect(steps('evalfail')).toEqual([1, 2]);
  });

  it('an interrupt during an evaluation cancels it and saves the step', async () => {
    const ac = new AbortController();
    let cancelled = false;
    let engines: ReturnType<EngineFactory> | undefined;
    const res = await train(
      recipe('evalint', ['train.steps=3', 'eval.every_steps=1', 'checkpoint.every_steps=100', ...evalSettings]),
      {
        signal: ac.signal,
        log: quiet,
        engines: (p, ref, r) => {
          engines = nativeEngines(p, ref, r);
          return {
            ...engines,
            rollout: {
              generate: async (prompts, req, signal) => {
                if (req.maxNewTokens !== 4) return engines!.rollout.generate(prompts, req, signal);
                ac.abort(); // Ctrl-C as the evaluation starts: the real sampler must see the signal and stop
                try {
                  return await engines!.rollout.generate(prompts, req, signal);
                } catch (e) {
                  cancelled = /cancelled/.test((e as Error).message);
                  throw e;
                }
              },
            },
          };
        },
      },
    );
    expect(res).toMatchObject({ lastStep: 1, interrupted: true, evalErrors: 0 });
    expect(cancelled).toBe(true);
    expect(new RunDir(runPath('evalint')).latestResumable()?.step).toBe(1);
    expect(existsSync(join(runPath('evalint'), 'eval'))).toBe(false);

    // Issue 32: the resume went on at step 2 and step 1 never got its evaluation. Now it runs first.
    const log: string[] = [];
    const again = await train(
      recipe('evalint', ['train.steps=1', 'eval.every_steps=1', 'checkpoint.every_steps=100', ...evalSettings]),
      { engines: nativeEngines, log: (l) => log.push(l), resume: true },
    );
    expect(again).toMatchObject({ lastStep: 1, interrupted: false, evalErrors: 0 });
    expect(log.join('\n')).toMatch(/the evaluation at step 1 did not finish before the run stopped; running it now/);
    expect(existsSync(join(runPath('evalint'), 'eval', 'step-000001.json'))).toBe(true);
    const evalRows = lines(join(runPath('evalint'), 'metrics.jsonl'))
      .map((l) => JSON.parse(l))
      .filter((r) => r.kind === 'eval');
    expect(evalRows.map((r) => [r.step, r['val/failed']])).toEqual([[1, 0]]);
  });
});

describe('non-finite updates', () => {
  it('are reported on the console, and the run stops after train.max_consecutive_skipped_steps, saved', async () => {
    const log: string[] = [];
    // NaN advantages: every loss is non-finite, and the real trainer skips every optimizer update.
    const skipAll: EngineFactory = (p, ref, r) => {
      const e = nativeEngines(p, ref, r);
      return {
        ...e,
        trainer: {
          ...e.trainer,
          trainMiniBatch: (mb, loss) =>
            e.trainer.trainMiniBatch({ ...mb, advantages: mb.advantages.map(() => NaN) }, loss),
        },
      };
    };
    await expect(
      train(recipe('nan', ['train.steps=6', 'train.max_consecutive_skipped_steps=2', 'checkpoint.every_steps=100']), {
        engines: skipAll,
        log: (l) => log.push(l),
      }),
    ).rejects.toThrow(
      /train\.max_consecutive_skipped_steps = 2: 2 steps in a row, the last step 2, skipped every optimizer update/,
    );
    expect(log.filter((l) => /^warning: step \d: 4 of 4 optimizer updates skipped \(non-finite/.test(l))).toHaveLength(
      2,
    );
    expect(steps('nan')).toEqual([1, 2]);
    expect(new RunDir(runPath('nan')).latestResumable()?.step).toBe(2);
  });
});
