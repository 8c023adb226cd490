/**
 * `gtr train <recipe.yaml> [--set key=value ...] [--resume] [--data-dir DIR]`: runs the RL loop
 * (src/rl/loop.ts). A progress bar shows step, reward and time per phase; metrics go to
 * <run.dir>/metrics.jsonl. SIGINT saves a checkpoint and exits; a second SIGINT exits at once.
 */
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { formatRecipeHelp, loadRecipe } from '../../recipe/index.js';
import { nativeEngines } from '../../rl/adapters.js';
import { train } from '../../rl/loop.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function register(program: Command): void {
  program
    .command('train')
    .description('train a policy with GTR or GRPO as a recipe says')
    .argument('[recipe]', 'recipe YAML file')
    .option('--set <key=value>', 'override a recipe key (repeatable), e.g. --set train.lr=2e-6', collect, [])
    .option('--resume', 'continue the run in run.dir from its latest checkpoint')
    .option('--data-dir <dir>', 'local dataset copies (overrides data.data_dir)')
    .option('--help-recipe', 'list every recipe key with its default and doc')
    .action(async (recipePath: string | undefined, o: { set: string[]; resume?: boolean; dataDir?: string; helpRecipe?: boolean }) => {
      if (o.helpRecipe) {
        console.log(formatRecipeHelp());
        return;
      }
      if (!recipePath) throw new Error('gtr train: a recipe file is required (see recipes/)');
      const recipe = loadRecipe(recipePath, o.set);
      const ac = new AbortController();
      let sigints = 0;
      const onSigint = () => {
        sigints++;
        if (sigints > 1) process.exit(130);
        process.stderr.write('\ninterrupt: saving a checkpoint, then exiting (Ctrl-C again to quit now)\n');
        ac.abort();
      };
      process.on('SIGINT', onSigint);
      const tty = process.stderr.isTTY === true;
      const bar = tty ? new SingleBar({ format: 'step {value}/{total} | reward {reward} | acc {acc} | gen {gen}s upd {upd}s', hideCursor: true }, Presets.shades_classic) : undefined;
      bar?.start(recipe.train.steps, 0, { reward: '-', acc: '-', gen: '-', upd: '-' });
      const fmt = (x: unknown, d = 3) => (typeof x === 'number' ? x.toFixed(d) : '-');
      try {
        const res = await train(recipe, {
          resume: o.resume, dataDir: o.dataDir, signal: ac.signal, engines: nativeEngines,
          log: (line) => (bar ? bar.stop() : undefined, console.log(line)),
          onStep: (row) => {
            const p = { reward: fmt(row['reward/mean']), acc: fmt(row['reward/accuracy']), gen: fmt(row['time/generate_s'], 1), upd: fmt(row['time/update_s'], 1) };
            if (bar) bar.update(row.step as number, p);
            else console.log(`step ${row.step}/${recipe.train.steps} reward ${p.reward} acc ${p.acc} gen ${p.gen}s update ${p.upd}s`);
          },
        });
        bar?.stop();
        console.log(`${res.interrupted ? 'interrupted' : 'done'} after step ${res.lastStep}; run dir ${res.runDir}`);
        if (res.interrupted) process.exitCode = 130;
      } finally {
        bar?.stop();
        process.off('SIGINT', onSigint);
      }
    });
}
