/**
 * `gtr train <recipe.yaml> [--set key=value ...] [--resume] [--data-dir DIR]`: runs the RL loop
 * (src/rl/loop.ts). A progress bar shows the step, the phase in progress, reward, accuracy and an
 * ETA; metrics go to <run.dir>/metrics.jsonl (and TensorBoard files, report.html there). SIGINT,
 * SIGTERM (what schedulers and containers send) or SIGHUP (a closed terminal) cancels the generation
 * or evaluation under way, saves a checkpoint and exits (130, 143, 129); a second signal exits at
 * once (../interrupt.ts).
 * Data parallelism (src/parallel): `--nproc-per-node N` starts N ranks here; under torchrun (or with
 * RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set) this process is one rank of the job.
 */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { DistContext } from '../../parallel/context.js';
import { readDistEnv } from '../../parallel/env.js';
import { launchLocal, stripNprocFlag } from '../../parallel/launch.js';
import { handleInterrupts } from '../interrupt.js';
import { native } from '../../native/binding.js';
import { resolveRecipeModel } from '../../checkpoint/index.js';
import { formatRecipeHelp, loadRecipe, type Recipe } from '../../recipe/index.js';
import { nativeEngines } from '../../rl/adapters.js';
import { train, type TrainPhase } from '../../rl/loop.js';
import { M } from '../../run/metric-names.js';
import { printDryRun } from '../dry-run.js';

/** Progress-bar words for the loop's phases. */
const PHASE_LABEL: Record<TrainPhase, string> = {
  generate: 'generate',
  grade: 'grade',
  old_log_prob: 'old log-probs',
  update: 'update',
  eval: 'eval',
  checkpoint: 'checkpoint',
};

const collect = (v: string, prev: string[]) => [...prev, v];

/**
 * This process's rank context: joined from the torchrun-style environment (undefined for a single
 * process). Says where it waits; `signal` ends the wait (see DistContext.join).
 */
export async function joinFromEnv(recipe: Recipe, signal?: AbortSignal): Promise<DistContext | undefined> {
  const env = readDistEnv();
  if (!env) return undefined;
  const d = recipe.model.device;
  const cuda = d.startsWith('cuda') || (d === 'auto' && native().versions().cudaAvailable);
  console.error(
    `rank ${env.rank} of ${env.worldSize}: joining the rendezvous at ${env.masterAddr}:${env.masterPort} ` +
      `(${env.storeServer ? 'serving the store' : 'store served elsewhere'}; timeout ${env.timeoutMs / 1000} s)`,
  );
  return DistContext.join(env, cuda ? 'cuda' : 'cpu', signal);
}

/**
 * `--nproc-per-node N` (N > 1) outside a distributed launch: runs N ranks of this same command and
 * resolves to their exit code; undefined when this process should run the command itself.
 * @throws Error when the flag is used inside a distributed launch (torchrun already made the ranks)
 */
export async function maybeLaunch(nproc: string | undefined): Promise<number | undefined> {
  if (nproc === undefined) return undefined;
  const n = Number(nproc);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--nproc-per-node ${nproc}: an integer >= 1 expected`);
  if (readDistEnv())
    throw new Error(
      '--nproc-per-node: this process is already one rank of a distributed launch (RANK / WORLD_SIZE are set); drop the flag',
    );
  if (n === 1) return undefined;
  return launchLocal(n, stripNprocFlag(process.argv.slice(2)));
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a policy with GTR or GRPO as a recipe says')
    .argument('[recipe]', 'recipe YAML file')
    .option('--set <key=value>', 'override a recipe key (repeatable), e.g. --set train.lr=2e-6', collect, [])
    .option('--resume', 'continue the run in run.dir from its latest checkpoint')
    .option(
      '--allow-recipe-change',
      'with --resume: accept recipe changes that alter training (recorded in <run.dir>/recipe-changes.jsonl)',
    )
    .option('--data-dir <dir>', 'local dataset copies (overrides data.data_dir)')
    .option('--help-recipe', 'list every recipe key with its default and doc')
    .option(
      '--nproc-per-node <n>',
      'data-parallel ranks to start on this machine (multi-node: run under torchrun instead)',
    )
    .option('--dry-run', 'print the memory plan per rank (weights, gradients, optimizer, KV pool, peak) and exit')
    .option('--gpu-memory <size>', 'with --dry-run: GPU memory to fit, e.g. 80GiB, 141GB or h100, h200, a100-40gb')
    .option('--model <preset|config.json|dir>', "with --dry-run: plan this model instead of model.path's")
    .action(
      async (
        recipePath: string | undefined,
        o: {
          set: string[];
          resume?: boolean;
          allowRecipeChange?: boolean;
          dataDir?: string;
          helpRecipe?: boolean;
          nprocPerNode?: string;
          dryRun?: boolean;
          gpuMemory?: string;
          model?: string;
        },
      ) => {
        if (o.helpRecipe) {
          console.log(formatRecipeHelp());
          return;
        }
        if (!recipePath) throw new Error('gtr train: a recipe file is required (see recipes/)');
        if (o.allowRecipeChange && !o.resume) throw new Error('--allow-recipe-change applies only with --resume');
        if (!o.dryRun && (o.gpuMemory !== undefined || o.model !== undefined))
          throw new Error(`${o.gpuMemory !== undefined ? '--gpu-memory' : '--model'} applies only with --dry-run`);
        const recipe = loadRecipe(recipePath, o.set);
        if (o.dryRun) {
          await printDryRun(recipe, o);
          return;
        }
        // A hub id (owner/name[@revision]) becomes its snapshot in the HF cache, before ranks start.
        await resolveRecipeModel(recipe);
        const launched = await maybeLaunch(o.nprocPerNode);
        if (launched !== undefined) {
          process.exitCode = launched;
          return;
        }
        const interrupts = handleInterrupts(
          (why) => `${why}: saving a checkpoint, then exiting (send it again to quit now)`,
        );
        let dist: DistContext | undefined;
        try {
          dist = await joinFromEnv(recipe, interrupts.signal);
        } catch (e) {
          // Nothing to save yet; the native join may still be blocked, so leave without waiting for it.
          if ((e as Error).name === 'AbortError') {
            console.error(`gtr: ${(e as Error).message}`);
            process.exit(interrupts.exitCode());
          }
          throw e;
        }
        // Progress (the bar, or a line per step) comes from rank 0 alone; other ranks' log lines stay
        // (the launcher prefixes them with [rank N]), so warnings and errors of any rank are seen.
        const isMain = dist?.isMain ?? true;
        const tty = process.stderr.isTTY === true && isMain;
        // cli-progress's ETA is the mean time per finished step times the steps left (etaBuffer steps).
        const bar = tty
          ? new SingleBar(
              {
                format:
                  'step {value}/{total} {bar} {phase} | reward {reward} | acc {acc} | {step_s}s/step | ETA {eta_formatted}',
                hideCursor: true,
                etaBuffer: 20,
                fps: 2,
              },
              Presets.shades_classic,
            )
          : undefined;
        bar?.start(recipe.train.steps, 0, { phase: 'start'.padEnd(13), reward: '-', acc: '-', step_s: '-' });
        let started = false;
        const fmt = (x: unknown, d = 3) => (typeof x === 'number' ? x.toFixed(d) : '-');
        try {
          const res = await train(recipe, {
            resume: o.resume,
            allowRecipeChange: o.allowRecipeChange,
            dataDir: o.dataDir,
            signal: interrupts.signal,
            engines: nativeEngines,
            dist,
            // Erase the bar's line, print, and let the bar redraw itself below (it keeps its ETA history).
            log: (line) => (bar ? process.stderr.write('\r\x1b[2K') : undefined, console.log(line)),
            onPhase: (phase, step) => {
              // A resumed run starts past step 1: restart the bar there, or the ETA counts the jump as speed.
              if (bar && !started && step > 1)
                bar.start(recipe.train.steps, step - 1, { phase: '', reward: '-', acc: '-', step_s: '-' });
              started = true;
              bar?.update({ phase: PHASE_LABEL[phase].padEnd(13) });
            },
            onStep: (row) => {
              const p = { reward: fmt(row[M.scoreMean]), acc: fmt(row[M.accuracy]), step_s: fmt(row[M.timeStep], 1) };
              if (bar) bar.update(row.step as number, p);
              else if (isMain)
                console.log(
                  `step ${row.step}/${recipe.train.steps} reward ${p.reward} acc ${p.acc} gen ${fmt(row[M.timeGen], 1)}s update ${fmt(row[M.timeUpdateActor], 1)}s step ${p.step_s}s`,
                );
            },
          });
          bar?.stop();
          if (isMain)
            console.log(
              `${res.interrupted ? 'interrupted' : 'done'} after step ${res.lastStep}; run dir ${res.runDir}`,
            );
          if (res.evalErrors > 0)
            console.log(
              `${res.evalErrors} periodic evaluation(s) failed (see the warnings above and the eval rows of metrics.jsonl)`,
            );
          if (res.interrupted) process.exitCode = interrupts.exitCode();
        } finally {
          bar?.stop();
          dist?.close();
          interrupts.dispose();
        }
      },
    );
}
