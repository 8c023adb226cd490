/**
 * The rollout shape of recipes/qwen3-1.7b-gtr-dapo.yaml for the benchmarks (bench/rollout-memory.ts,
 * bench/generate.ts --shape recipe): `prompts` real DAPO-Math-17k problems rendered through the
 * dapo template and tokenised by the Qwen3 tokenizer (the recipe's data path), n samples each, and a
 * target length per sample standing in for EOS (random weights never emit it): lognormal with mean
 * `meanLength` and sigma 0.75, clipped to [16, maxNewTokens] (the response-length model of
 * ../shared/docs/ROLLOUT-PAGED-KV.md section 2; nano-vllm's bench.py does the same with uniform
 * lengths). Everything is drawn from `seed`.
 */
import { loadDataset } from '../src/data/load.js';
import { PromptSampler } from '../src/data/sampler.js';
import { Xoshiro128 } from '../src/data/prng.js';
import { renderPrompt } from '../src/rollout/prompt.js';
import { Tokenizer, bundledTokenizerDir } from '../src/tokenizer/index.js';

export interface RecipeShape {
  /** Prompt token ids (Qwen3 vocabulary). */
  prompts: Int32Array[];
  n: number;
  maxNewTokens: number;
  /** Per sample, prompt-major: prompts x n. */
  targetLengths: Int32Array;
}

export async function recipeShape(o: {
  dataDir: string;
  prompts: number;
  n: number;
  maxNewTokens: number;
  meanLength: number;
  seed: number;
}): Promise<RecipeShape> {
  const tokenizer = await Tokenizer.fromDir(bundledTokenizerDir());
  const data = await loadDataset('dapo-math-17k', { dataDir: o.dataDir });
  const sampler = new PromptSampler(data.rows.length, o.seed);
  const prompts = sampler
    .next(o.prompts)
    .map(
      (i) => renderPrompt(tokenizer, data.rows[i]!, { template: 'dapo', chat: false, enableThinking: false }).tokens,
    );
  const rng = new Xoshiro128(o.seed + 1);
  const sigma = 0.75;
  const mu = Math.log(o.meanLength) - (sigma * sigma) / 2; // E[lognormal] = exp(mu + sigma^2 / 2)
  const targetLengths = new Int32Array(o.prompts * o.n);
  for (let i = 0; i < targetLengths.length; i++) {
    const z =
      Math.sqrt(-2 * Math.log(1 - rng.nextUint32() / 4294967296)) *
      Math.cos(2 * Math.PI * (rng.nextUint32() / 4294967296)); // Box-Muller
    targetLengths[i] = Math.max(16, Math.min(o.maxNewTokens, Math.round(Math.exp(mu + sigma * z))));
  }
  return { prompts, n: o.n, maxNewTokens: o.maxNewTokens, targetLengths };
}

// `npx tsx bench/recipe-shape.ts --write FILE [--data-dir DIR]`: the shape as JSON, for a machine
// without the datasets (bench/generate.ts --shape recipe --shape-file FILE).
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { parseArgs } = await import('node:util');
  const { writeFileSync, mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  const { values } = parseArgs({
    options: {
      write: { type: 'string' },
      'data-dir': { type: 'string', default: '../shared/datasets' },
      seed: { type: 'string', default: '0' },
    },
  });
  if (!values.write) throw new Error('recipe-shape: --write FILE is required');
  const shape = await recipeShape({
    dataDir: values['data-dir']!,
    prompts: 128,
    n: 8,
    maxNewTokens: 4096,
    meanLength: 1500,
    seed: Number(values.seed),
  });
  mkdirSync(dirname(values.write), { recursive: true });
  writeFileSync(
    values.write,
    JSON.stringify({
      ...shape,
      prompts: shape.prompts.map((p) => Array.from(p)),
      targetLengths: Array.from(shape.targetLengths),
    }),
  );
  console.log(`wrote ${values.write}: ${shape.prompts.length} prompts x ${shape.n}`);
}
