// DAPO dynamic sampling in the loop, with a scripted rollout engine (the real trainer, grader and
// tokenizer): 'drop' trains on the groups with mixed rewards only; 'refill' samples more prompts
// until prompts_per_step groups carry signal (or max_refill_batches is reached).
import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRecipe } from '../src/recipe/index.js';
import { trainerEngine } from '../src/rl/adapters.js';
import type { RolloutEngine } from '../src/rollout/engine.js';
import { train } from '../src/rl/loop.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { repoRoot } from './helpers/paths.js';
import { tinyModelScratch } from './helpers/tiny.js';

const { scratch, modelDir } = tinyModelScratch('gtr-ds-', 2);
const dataFile = join(scratch, 'problems.jsonl');
beforeAll(async () => {
  // Problem k has answer k; odd k are "solvable" (the scripted engine answers half its samples right).
  writeFileSync(
    dataFile,
    Array.from({ length: 40 }, (_, k) =>
      JSON.stringify({ id: `p${k}`, problem: `Problem ${k}`, answer: String(k) }),
    ).join('\n'),
  );
});

/** Answers `Answer: k` on even sample indices of odd problems, `Answer: -1` otherwise. */
async function scriptedEngine(): Promise<RolloutEngine & { prompts: number }> {
  const tok = await Tokenizer.fromDir(modelDir);
  const engine = {
    prompts: 0,
    async generate(prompts: Int32Array[], r: { n: number }) {
      engine.prompts += prompts.length;
      return prompts.map((p) => {
        const k = Number(/Problem (\d+)/.exec(tok.decode(p))![1]);
        return Array.from({ length: r.n }, (_, j) => {
          const tokens = Int32Array.from(tok.encode(`Answer: ${k % 2 === 1 && j % 2 === 0 ? k : -1}`));
          return { tokens, logprobs: new Float32Array(tokens.length).fill(-1), finishReason: 'stop' as const };
        });
      });
    },
  };
  return engine;
}

function recipe(run: string, mode: 'drop' | 'refill' | 'off') {
  return loadRecipe(join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'), [
    `model.path=${modelDir}`,
    `run.dir=${join(scratch, run)}`,
    `data.train=${dataFile}`,
    'data.limit=null',
    'eval.every_steps=0',
    'train.steps=1',
    'train.prompts_per_step=4',
    'rollout.samples_per_prompt=4',
    `algorithm.dynamic_sampling.enabled=${mode !== 'off'}`,
    `algorithm.dynamic_sampling.mode=${mode === 'off' ? 'drop' : mode}`,
    'algorithm.dynamic_sampling.max_refill_batches=5',
    'train.mini_batches_per_epoch=1',
  ]);
}

describe('dynamic sampling in the loop', () => {
  it.each(['drop', 'refill'] as const)('%s', async (mode) => {
    const engine = await scriptedEngine();
    await train(recipe(mode, mode), {
      log: () => {},
      engines: (p, ref, r) => ({ rollout: engine, trainer: trainerEngine(p, ref, r) }),
    });
    const row = JSON.parse(readFileSync(join(scratch, mode, 'metrics.jsonl'), 'utf8').split('\n')[0]);
    const kept = row['batch/kept_groups'];
    if (mode === 'drop') {
      // Of the first 4 prompts (a seeded shuffle), the odd ones have mixed rewards: only they are kept.
      expect(row['batch/rollout_rounds']).toBe(1);
      expect(kept).toBeLessThan(4);
      expect(row['batch/samples']).toBe(kept * 4);
    } else {
      // Refill keeps sampling until 4 groups carry signal (half the problems are solvable).
      expect(kept).toBeGreaterThanOrEqual(4);
      expect(row['batch/samples']).toBe(16);
      expect(engine.prompts).toBe(row['batch/prompts']);
      expect(row['batch/rollout_rounds']).toBeGreaterThan(1);
    }
    expect(row['actor/optimizer_steps']).toBe(kept > 0 ? 2 : 0);
    // Mixed groups: half right (+1), half wrong (-1) under the dapo grader.
    expect(row['critic/score/mean']).toBeLessThan(0);
  });

  it('off: batch/kept_groups counts only the groups with signal, as documented', async () => {
    // Issue 32: with dynamic sampling off, every group was counted, signal or not.
    const engine = await scriptedEngine();
    await train(recipe('off', 'off'), {
      log: () => {},
      engines: (p, ref, r) => ({ rollout: engine, trainer: trainerEngine(p, ref, r) }),
    });
    const row = JSON.parse(readFileSync(join(scratch, 'off', 'metrics.jsonl'), 'utf8').split('\n')[0]);
    const drop = JSON.parse(readFileSync(join(scratch, 'drop', 'metrics.jsonl'), 'utf8').split('\n')[0]);
    expect(row['batch/samples']).toBe(16); // every group is trained on
    // The same seed draws the same 4 prompts as the 'drop' run, which kept exactly those with signal.
    expect(row['batch/kept_groups']).toBe(drop['batch/kept_groups']);
    expect(row['batch/kept_groups']).toBeLessThan(4);
  });
});
