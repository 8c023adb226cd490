/**
 * `gtr sft <recipe.yaml> [--set key=value ...] [--data-dir DIR]`: supervised fine-tuning on the
 * recipe's `data.train` rows (prompt = the templated problem as the RL loop renders it, response =
 * the row's `data.response_field` + EOS). Reads the model, data, train, checkpoint and run
 * sections; writes <run.dir>/metrics.jsonl and the final model to <run.dir>/model.
 */
import type { Command } from 'commander';
import { resolveRecipeModel } from '../../checkpoint/index.js';
import { loadRecipe } from '../../recipe/index.js';
import { sftTrain } from '../../sft/train.js';
import { handleInterrupts } from '../interrupt.js';

const collect = (v: string, prev: string[]) => [...prev, v];

/** Registers `gtr sft`. */
export function register(program: Command): void {
  program
    .command('sft')
    .description('supervised fine-tuning of a policy on (prompt, response) rows, as a recipe says')
    .argument('<recipe>', 'recipe YAML file (model, data, train, checkpoint, run sections)')
    .option('--set <key=value>', 'override a recipe key (repeatable), e.g. --set train.steps=200', collect, [])
    .option('--data-dir <dir>', 'local dataset copies (overrides data.data_dir)')
    .action(async (recipePath: string, o: { set: string[]; dataDir?: string }) => {
      const recipe = loadRecipe(recipePath, o.set);
      await resolveRecipeModel(recipe); // a hub id becomes its snapshot in the HF cache
      // SIGINT, SIGTERM (schedulers, containers), SIGHUP (a closed terminal): finish the step and save.
      const interrupts = handleInterrupts((why) => `${why}: finishing this step and saving the model`);
      try {
        await sftTrain(recipe, {
          dataDir: o.dataDir,
          signal: interrupts.signal,
          onStep: (row) => {
            const s = row.step as number;
            if (s === 1 || s % 10 === 0 || s === recipe.train.steps) {
              console.log(
                `sft step ${s}/${recipe.train.steps} nll ${(row['sft/nll'] as number).toFixed(4)} lr ${(row['sft/lr'] as number).toExponential(2)} ${(row['timing_s/step'] as number).toFixed(2)}s`,
              );
            }
          },
        });
      } finally {
        interrupts.dispose();
      }
    });
}
