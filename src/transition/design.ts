/**
 * The transition experiment's design (docs/TRANSITION.md "Analysis plan") and its driver: every
 * (warm start, seed) pair runs every arm (./run.ts), seeds outermost and warm starts next, so a run
 * cut short leaves complete pairs balanced over the warm starts. Each run's record is written
 * atomically as it completes (<out>/runs/<arm>-w<warm>-s<seed>.json) and skipped when present, so
 * the driver resumes where it stopped; the design itself is written once to <out>/design.json and
 * a different design in the same directory is refused.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../checkpoint/save.js';
import { armOf } from './arms.js';
import { runArm, warmStart, type RunRecord, type RunSettings, type WarmStartSettings } from './run.js';
import type { Mode } from './task.js';

/** A whole design: warm starts, seeds, arms and the shared RL settings. */
export interface Design {
  name: string;
  warmStarts: number[];
  seeds: number[];
  arms: string[];
  warm: Omit<WarmStartSettings, 'seed'>;
  run: RunSettings;
  /** Steps per phase after the first (N) and the first phase's steps. */
  phaseSteps: number;
  firstSteps: number;
  switches: number;
  /**
   * Optional stages (arm groups run one after another, each over every pair, seeds outermost):
   * a later stage runs only on the time left by the earlier ones. Default: one stage of all arms.
   */
  stages?: string[][];
}

/** The design's stages: `stages`, or one stage of every arm. */
export const stagesOf = (d: Design): string[][] => d.stages ?? [d.arms];

/** The schedule: mode A for `first` steps, then `switches` phases of `n` steps alternating B, A, ... */
export function alternatingPhases(first: number, n: number, switches: number): { mode: Mode; steps: number }[] {
  const out: { mode: Mode; steps: number }[] = [{ mode: 'A', steps: first }];
  for (let i = 0; i < switches; i++) out.push({ mode: i % 2 === 0 ? 'B' : 'A', steps: n });
  return out;
}

function design(
  name: string,
  o: Pick<Design, 'warmStarts' | 'seeds' | 'arms' | 'warm' | 'phaseSteps' | 'firstSteps' | 'switches' | 'stages'> & {
    run: Omit<RunSettings, 'phases'>;
  },
): Design {
  return { ...o, name, run: { ...o.run, phases: alternatingPhases(o.firstSteps, o.phaseSteps, o.switches) } };
}

/** The registered design (docs/TRANSITION.md "Analysis plan"). */
export const REGISTERED: Design = design('registered', {
  warmStarts: [0, 1, 2],
  seeds: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  arms: ['gtr', 'grpo', 'grpo-ch', 'gtr-single', 'gtr-s10', 'kl', 'pearson-m', 'grpo-hi', 'gtr-hi'],
  warm: { trainRows: 800, heldOut: 100, shareB: 0.1, hidden: 64, layers: 2, sftSteps: 1500, sftBatch: 32, sftLr: 3e-3 },
  firstSteps: 4,
  phaseSteps: 6,
  switches: 6,
  run: { prompts: 8, group: 6, maxNewTokens: 8, lr: 2e-4, epochs: 4, miniBatches: 2, hi: { lr: 4e-4, epochs: 8 } },
});

/**
 * The amended design (docs/TRANSITION.md "Amendments", 2026-12-07, decided after seeing the
 * registered design's first complete pairs: no arm's new-mode probability rose above 0.06 within a
 * 6-step phase, so its endpoints could not discriminate). SFT share of mode B 0.3 (was 0.1), a
 * 2-step first phase and 8-step phases (was 4 and 6), and the many-epochs arms as a second stage
 * on the time the base arms leave. Everything else as registered.
 */
export const AMENDED: Design = design('amended', {
  ...REGISTERED,
  warm: { ...REGISTERED.warm, shareB: 0.3 },
  firstSteps: 2,
  phaseSteps: 8,
  switches: 6,
  run: { ...REGISTERED.run },
  stages: [
    ['gtr', 'grpo', 'grpo-ch', 'gtr-single', 'gtr-s10', 'kl', 'pearson-m'],
    ['grpo-hi', 'gtr-hi'],
  ],
});

/** The CI smoke (seconds): the whole pipeline on a toy model, not a measurement. */
export const SMOKE: Design = design('smoke', {
  warmStarts: [0, 1],
  seeds: [1, 2],
  arms: ['gtr', 'grpo', 'kl', 'gtr-hi', 'grpo-hi'],
  stages: [
    ['gtr', 'grpo', 'kl'],
    ['gtr-hi', 'grpo-hi'],
  ],
  warm: { trainRows: 48, heldOut: 6, shareB: 0.25, hidden: 32, layers: 1, sftSteps: 8, sftBatch: 8, sftLr: 3e-3 },
  firstSteps: 1,
  phaseSteps: 2,
  switches: 2,
  run: { prompts: 2, group: 3, maxNewTokens: 6, lr: 2e-4, epochs: 2, miniBatches: 1, hi: { lr: 4e-4, epochs: 3 } },
});

/** The file of one run's record. */
export const runFile = (out: string, arm: string, warm: number, seed: number) =>
  join(out, 'runs', `${arm}-w${warm}-s${seed}.json`);

/**
 * Runs the design into `outDir` (creates it; resumes: existing run files are kept and skipped).
 * `warmCache`: where warm starts are cached (default <out>/warm). `deadline` (ms since epoch):
 * no new pair starts after it. Returns the records present at the end.
 * @throws Error when <out>/design.json holds a different design; what a run throws
 */
export async function runDesign(
  outDir: string,
  d: Design,
  log: (l: string) => void = console.log,
  o: { warmCache?: string; deadline?: number } = {},
): Promise<RunRecord[]> {
  const out = resolve(outDir);
  mkdirSync(join(out, 'runs'), { recursive: true });
  const dFile = join(out, 'design.json');
  const text = JSON.stringify(d, null, 2) + '\n';
  if (existsSync(dFile)) {
    if (readFileSync(dFile, 'utf8') !== text)
      throw new Error(`${dFile}: this directory holds runs of a different design; use another --out`);
  } else writeFileAtomicSync(dFile, text);
  const cache = o.warmCache ?? join(out, 'warm');
  const warmDirs = new Map<number, string>();
  for (const w of d.warmStarts) warmDirs.set(w, await warmStart(cache, { ...d.warm, seed: w }, log));
  const t0 = performance.now();
  let done = 0;
  const total = d.seeds.length * d.warmStarts.length * d.arms.length;
  for (const [si, stage] of stagesOf(d).entries())
    for (const seed of d.seeds) {
      for (const w of d.warmStarts) {
        if (o.deadline !== undefined && Date.now() > o.deadline) {
          log(`transition: deadline reached; stopping before stage ${si + 1} seed ${seed} warm start ${w}`);
          return loadRuns(out);
        }
        for (const key of stage) {
          const f = runFile(out, key, w, seed);
          if (existsSync(f)) {
            done++;
            continue;
          }
          const r = await runArm(warmDirs.get(w)!, w, armOf(key), seed, d.run);
          writeFileAtomicSync(f, JSON.stringify(r) + '\n');
          done++;
          const last = r.steps[r.steps.length - 1]!;
          log(
            `transition: ${done}/${total} ${key} w${w} s${seed}: ${r.seconds.toFixed(1)} s; end pA ${last.seqA.toFixed(3)} pB ${last.seqB.toFixed(3)}${r.collapsed ? ' COLLAPSED' : ''}; elapsed ${((performance.now() - t0) / 60000).toFixed(1)} min`,
          );
        }
      }
    }
  return loadRuns(out);
}

/** Every run record under <out>/runs, in a stable order (arm, warm start, seed). */
export function loadRuns(outDir: string): RunRecord[] {
  const dir = join(resolve(outDir), 'runs');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord);
}
