/**
 * LoRA rollouts: adapters applied unmerged in the engine (what gtr does) against merged weights
 * (not a test). A randomly initialised model (a preset, optionally cut to --layers), `--batch`
 * random prompts of `--prompt-len` tokens, `--new-tokens` sampled tokens each (stop tokens off), in
 * three settings: no adapters (the floor), LoRA unmerged (rank --r on every projection), and the
 * same adapters merged into the weights. Merging before a rollout phase also costs a merge and an
 * unmerge per phase (timed here as the merge). Each setting is the best of --reps (3) calls after a
 * full-size warm-up; merged and no adapters do the same work, so their gap is the noise. Prints a table and writes JSON to
 * bench/results/lora-rollout-<device>-<date>.json.
 *
 * Run: npx tsx bench/lora-rollout.ts --device cuda                 (Qwen3-1.7B, bf16, batch 64)
 *      npx tsx bench/lora-rollout.ts --device cpu --layers 4 --batch 8 --new-tokens 32
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LORA_TARGETS, presetConfig, type Qwen3PresetName } from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { generateWithStats } from '../src/rollout/index.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'qwen3-1.7b' },
    layers: { type: 'string' },
    device: { type: 'string', default: 'cuda' },
    batch: { type: 'string', default: '64' },
    'prompt-len': { type: 'string', default: '128' },
    'new-tokens': { type: 'string', default: '256' },
    r: { type: 'string', default: '32' },
    seed: { type: 'string', default: '0' },
    reps: { type: 'string', default: '3' },
    out: { type: 'string', default: join(import.meta.dirname ?? '.', 'results') },
  },
});
const device = values.device!;
const dtype = device.startsWith('cuda') ? 'bfloat16' : 'float32';
const batch = Number(values.batch);
const promptLen = Number(values['prompt-len']);
const newTokens = Number(values['new-tokens']);
const r = Number(values.r);
const seed = Number(values.seed);

const hf = presetConfig(values.config as Qwen3PresetName, dtype);
if (values.layers) hf.num_hidden_layers = Number(values.layers);
const vocab = hf.vocab_size as number;
const prompts = Array.from({ length: batch }, (_, b) =>
  Int32Array.from({ length: promptLen }, (_, i) => (b * 7919 + i * 104729) % vocab),
);

// The best of --reps timed calls (the machine may be shared: the fastest is the least disturbed).
async function rollout(policy: Policy): Promise<number> {
  let best = 0;
  for (let i = 0; i < Number(values.reps); i++) {
    const t0 = performance.now();
    await generateWithStats(policy, prompts, { maxNewTokens: newTokens, temperature: 1, seed, stopTokenIds: [] });
    best = Math.max(best, (batch * newTokens) / ((performance.now() - t0) / 1000));
  }
  return best;
}

const policy = await Policy.random(hf, seed, { device, dtype });
await generateWithStats(policy, prompts, { maxNewTokens: newTokens, temperature: 1, seed }); // warm-up
const rows: { setting: string; tokens_per_s: number; merge_s?: number }[] = [];
rows.push({ setting: 'no adapters', tokens_per_s: await rollout(policy) });
policy.enableLora({ r, alpha: 2 * r, dropout: 0, target_modules: [...LORA_TARGETS] }, seed);
rows.push({ setting: `LoRA r ${r} unmerged (gtr)`, tokens_per_s: await rollout(policy) });
const t0 = performance.now();
await policy.mergeLora();
const mergeS = (performance.now() - t0) / 1000;
rows.push({ setting: `LoRA r ${r} merged`, tokens_per_s: await rollout(policy), merge_s: mergeS });
policy.dispose();

const label = `${values.config}${values.layers ? `-${values.layers}l` : ''}`;
console.log(`\n${label}, ${device} ${dtype}, batch ${batch}, prompt ${promptLen}, ${newTokens} new tokens`);
console.log('| setting | tokens/s | vs no adapters | merge (s) |\n| --- | --- | --- | --- |');
for (const row of rows)
  console.log(
    `| ${row.setting} | ${row.tokens_per_s.toFixed(1)} | ${(row.tokens_per_s / rows[0]!.tokens_per_s).toFixed(3)} | ${row.merge_s?.toFixed(2) ?? ''} |`,
  );
const date = new Date().toISOString().slice(0, 10);
const dev = device.startsWith('cuda') ? 'cuda' : `cpu-x${cpus().length}`;
mkdirSync(values.out!, { recursive: true });
const file = join(values.out!, `lora-rollout-${label}-${dev}-${date}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ date, device: dev, cpu: cpus()[0]?.model, config: label, dtype, batch, promptLen, newTokens, r, rows }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
