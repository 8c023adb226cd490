/**
 * `gtr demo [--out DIR] [--steps N] [--sft-steps N] [--seed N] [--algo gtr|grpo] [--compare] [--fast]`:
 * a first run that learns on a CPU with nothing downloaded (src/demo/run.ts): synthetic arithmetic,
 * a small tokenizer and model, an SFT warm-up, then GTR (or GRPO, or both) with pass@k before and
 * after, a summary table and <out>/report.html.
 */
import type { Command } from 'commander';
import { DEMO_DEFAULTS, formatSummaryFooter, formatSummaryTable, runDemo } from '../../demo/run.js';

/** A non-negative integer flag; throws naming the flag. */
function intFlag(name: string, v: string | undefined, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

/** Registers `gtr demo`. */
export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'a first run that learns on a CPU: synthetic arithmetic, tiny model, SFT warm-up, GTR, before/after pass@k',
    )
    .option('--out <dir>', 'output directory', 'runs/demo')
    .option('--steps <n>', `RL steps (default ${DEMO_DEFAULTS.steps}; --fast: ${DEMO_DEFAULTS.fastSteps})`)
    .option(
      '--sft-steps <n>',
      `SFT warm-up steps at most; it stops earlier once the validation greedy accuracy reaches the target (default ${DEMO_DEFAULTS.sftSteps}; --fast: ${DEMO_DEFAULTS.fastSftSteps})`,
    )
    .option('--seed <n>', 'seed of the task, the model and the runs', '0')
    .option('--algo <name>', 'gtr or grpo', 'gtr')
    .option('--compare', 'run GTR and GRPO from the same warmed-up checkpoint and seed, side by side')
    .option('--fast', 'a couple of SFT and RL steps and a tiny evaluation (smoke test)')
    .action(
      async (o: {
        out: string;
        steps?: string;
        sftSteps?: string;
        seed: string;
        algo: string;
        compare?: boolean;
        fast?: boolean;
      }) => {
        if (o.algo !== 'gtr' && o.algo !== 'grpo') throw new Error(`--algo must be gtr or grpo, got "${o.algo}"`);
        const fast = o.fast === true;
        const summary = await runDemo({
          out: o.out,
          steps: intFlag('steps', o.steps, fast ? DEMO_DEFAULTS.fastSteps : DEMO_DEFAULTS.steps, 1),
          sftSteps: intFlag('sft-steps', o.sftSteps, fast ? DEMO_DEFAULTS.fastSftSteps : DEMO_DEFAULTS.sftSteps, 1),
          seed: intFlag('seed', o.seed, 0),
          algos: o.compare ? ['gtr', 'grpo'] : [o.algo],
          fast,
        });
        console.log('');
        console.log(formatSummaryTable(summary));
        console.log('');
        for (const l of formatSummaryFooter(summary)) console.log(l);
        console.log(`report ${summary.reportPath}`);
      },
    );
}
