/**
 * Rollout KV memory of the paper recipe's shape, measured by the engine's own scheduler on any
 * machine (not a test): the paged engine runs in dry-run mode (blocks allocated, shared,
 * preempted and freed exactly as in a real call; no model runs), on the recipe's shape
 * (bench/recipe-shape.ts: 128 DAPO-Math-17k prompts through the dapo template, n = 8,
 * max_new_tokens 4096, lognormal response lengths), and converts blocks to Qwen3-1.7B bytes
 * (28 layers x K,V x 8 kv heads x 128 x bf16 = 112 KiB per token). Prints a table and writes
 * JSON under bench/results/.
 *
 * Run: npx tsx bench/rollout-memory.ts [--data-dir ../shared/datasets] [--mean-length 1500]
 *        [--budgets 0,45,30,20] (GiB; 0 = unbounded) [--max-num-seqs 256,512] [--block-size 32]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { presetConfig } from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { generateWithStats } from '../src/rollout/index.js';
import { recipeShape } from './recipe-shape.js';

const { values } = parseArgs({
  options: {
    'data-dir': {
      type: 'string',
      default: process.env.GTR_DATA_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'datasets'),
    },
    prompts: { type: 'string', default: '128' },
    n: { type: 'string', default: '8' },
    'max-new-tokens': { type: 'string', default: '4096' },
    'mean-length': { type: 'string', default: '1500' },
    budgets: { type: 'string', default: '0,45,30,20,10' },
    'max-num-seqs': { type: 'string', default: '256,512' },
    'block-size': { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string', default: join(import.meta.dirname, 'results') },
  },
});
const GiB = 2 ** 30;
const real = presetConfig('qwen3-1.7b', 'bfloat16') as Record<string, number>;
const tokenBytes = 2 * real.num_hidden_layers! * real.num_key_value_heads! * real.head_dim! * 2; // K and V, bf16
const blockSize = Number(values['block-size']);
const blockBytes = tokenBytes * blockSize;

const shape = await recipeShape({
  dataDir: values['data-dir']!,
  prompts: Number(values.prompts),
  n: Number(values.n),
  maxNewTokens: Number(values['max-new-tokens']),
  meanLength: Number(values['mean-length']),
  seed: Number(values.seed),
});
// The scheduler needs a model only for its shapes: a tiny one on the CPU (nothing runs in a dry run).
const tiny = presetConfig('tiny', 'float32');
const vocab = tiny.vocab_size as number;
const policy = await Policy.random(tiny, 0, { device: 'cpu', dtype: 'float32' });
const prompts = shape.prompts.map((p) => p.map((t) => t % vocab));
const promptLens = shape.prompts.map((p) => p.length);
const maxPrompt = Math.max(...promptLens);
const meanTarget = shape.targetLengths.reduce((a, b) => a + b, 0) / shape.targetLengths.length;
console.log(
  `recipe shape: ${prompts.length} prompts (tokens: mean ${(promptLens.reduce((a, b) => a + b, 0) / promptLens.length).toFixed(0)}, ` +
    `max ${maxPrompt}) x n ${shape.n}, max_new_tokens ${shape.maxNewTokens}, target lengths mean ${meanTarget.toFixed(0)}; ` +
    `Qwen3-1.7B KV ${tokenBytes / 1024} KiB/token, block ${blockSize} tokens = ${(blockBytes / 2 ** 20).toFixed(2)} MiB`,
);
const contiguousGiB = (slots: number) => ((slots + 1) * (maxPrompt + shape.maxNewTokens - 1) * tokenBytes) / GiB;

const rows: Record<string, number | string>[] = [];
for (const maxNumSeqs of values['max-num-seqs']!.split(',').map(Number)) {
  for (const budget of values.budgets!.split(',').map(Number)) {
    const t0 = performance.now();
    let stats;
    try {
      ({ stats } = await generateWithStats(policy, prompts, {
        n: shape.n,
        maxNewTokens: shape.maxNewTokens,
        targetLengths: shape.targetLengths,
        dryRun: true,
        blockSize,
        maxNumSeqs: maxNumSeqs,
        kvCacheBlocks: budget > 0 ? Math.floor((budget * GiB) / blockBytes) : 0,
        checkBlocks: false,
      }));
    } catch (e) {
      console.log(`max_num_seqs ${maxNumSeqs}, budget ${budget} GiB: ${(e as Error).message}`);
      continue;
    }
    const row = {
      maxNumSeqs,
      budgetGiB: budget || 'unbounded',
      blocks: stats.kvBlocks,
      peakGiB: (stats.peakBlocks * blockBytes) / GiB,
      meanRunning: stats.meanRunning,
      steps: stats.steps,
      preemptions: stats.preemptions,
      promptPrefills: stats.promptPrefills,
      contiguousGiB: contiguousGiB(maxNumSeqs),
      simulateS: (performance.now() - t0) / 1000,
    };
    rows.push(row);
    console.log(
      `max_num_seqs ${String(maxNumSeqs).padStart(4)} | budget ${String(row.budgetGiB).padStart(9)} GiB | peak KV ${row.peakGiB.toFixed(1).padStart(5)} GiB ` +
        `| mean running ${row.meanRunning.toFixed(0).padStart(4)} | decode steps ${String(row.steps).padStart(6)} | preemptions ${String(row.preemptions).padStart(5)} ` +
        `| contiguous cache at this batch ${row.contiguousGiB.toFixed(0)} GiB`,
    );
  }
}
policy.dispose();
mkdirSync(values.out!, { recursive: true });
const date = new Date().toISOString().slice(0, 10);
const file = join(values.out!, `rollout-memory-${date}-cpu-dry-run.json`);
writeFileSync(
  file,
  `${JSON.stringify(
    {
      bench: 'rollout-memory',
      date: new Date().toISOString(),
      device: `cpu dry run (${hostname()}, ${cpus().length} cores); sizes for Qwen3-1.7B bf16`,
      shape: {
        prompts: prompts.length,
        n: shape.n,
        maxNewTokens: shape.maxNewTokens,
        meanPromptTokens: promptLens.reduce((a, b) => a + b, 0) / promptLens.length,
        maxPromptTokens: maxPrompt,
        meanTargetLength: meanTarget,
        blockSize,
      },
      results: rows,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${file}`);
