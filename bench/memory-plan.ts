/**
 * The memory planner's table (src/train/memory-plan.ts) for Qwen3-1.7B, 4B and 8B at world sizes
 * 1, 2, 4 and 8 and each train.sharding level, in the paper recipe's shape
 * (recipes/qwen3-1.7b-gtr-dapo.yaml: bf16 with fp32 masters, 128 prompts x 8 samples a step,
 * prompts <= 1024 and responses <= 4096 tokens, 32768-token micro-batches, activation
 * checkpointing, no KL reference, the default KV budget). Computed, not measured: the planner
 * agrees with the addon's live-tensor counts within 5% on CPU (test/memory-plan.test.ts); the
 * activations row is an estimate.
 *
 * Run: npx tsx bench/memory-plan.ts [--out bench/results]
 * Writes <out>/memory-plan-planner-cpu-<time>.json and the same table as markdown beside it
 * (the README quotes it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseQwen3Config, presetConfig } from '../src/checkpoint/index.js';
import { loadRecipe } from '../src/recipe/index.js';
import {
  fitsDevice,
  parseGpuMemory,
  planInputFromRecipe,
  planMemory,
  SHARDING_LEVELS,
  type PlanRecipe,
} from '../src/train/memory-plan.js';
import { writeBenchResult } from './results.js';

const { values } = parseArgs({ options: { out: { type: 'string', default: join('bench', 'results') } } });
const recipe = loadRecipe(join('recipes', 'qwen3-1.7b-gtr-dapo.yaml'), []) as unknown as PlanRecipe;
const h100 = parseGpuMemory('h100').bytes;
const h200 = parseGpuMemory('h200').bytes;
const GiB = 2 ** 30;
const g = (n: number) => Number((n / GiB).toFixed(1));

const rows = [];
for (const model of ['qwen3-1.7b', 'qwen3-4b', 'qwen3-8b'] as const) {
  const config = parseQwen3Config(presetConfig(model)).native;
  for (const W of [1, 2, 4, 8])
    for (const sharding of SHARDING_LEVELS) {
      const plan = planMemory({ ...planInputFromRecipe(recipe, config, W), sharding });
      const a = fitsDevice(plan, h100),
        b = fitsDevice(plan, h200);
      rows.push({
        model,
        world_size: W,
        sharding,
        parameters: plan.parameters,
        gib: {
          weights: g(plan.bytes.weights),
          gradients: g(plan.bytes.gradients + plan.bytes.gradientsInBackward),
          optimizer: g(plan.bytes.optimizer),
          gathered_update: g(plan.bytes.gathered),
          gathered_rollout: g(plan.bytes.gatheredRollout),
          activations_estimate: g(plan.bytes.activations),
          update_phase: g(plan.update),
          rollout_phase_kv_min: g(plan.rollout),
          peak: g(plan.peak),
        },
        h100: { fits: a.fits, kv_room_gib: a.fits ? g(a.kvRoom) : 0, kv_sequences: a.fits ? a.kvSequences : 0 },
        h200: { fits: b.fits, kv_room_gib: b.fits ? g(b.kvRoom) : 0, kv_sequences: b.fits ? b.kvSequences : 0 },
      });
    }
}

const head =
  '| model | W | train.sharding | weights | gradients | optimizer | gathered (update / rollout) | activations (est.) | peak | H100 80 GB: fits, KV room (sequences) | H200 141 GB: fits, KV room (sequences) |\n' +
  '|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|\n';
const fit = (f: { fits: boolean; kv_room_gib: number; kv_sequences: number }) =>
  f.fits ? `yes, ${f.kv_room_gib} (${f.kv_sequences})` : 'no';
const md =
  head +
  rows
    .map(
      (r) =>
        `| ${r.model} | ${r.world_size} | ${r.sharding} | ${r.gib.weights} | ${r.gib.gradients} | ${r.gib.optimizer} | ` +
        `${r.gib.gathered_update} / ${r.gib.gathered_rollout} | ${r.gib.activations_estimate} | ${r.gib.peak} | ${fit(r.h100)} | ${fit(r.h200)} |`,
    )
    .join('\n') +
  '\n';

const file = writeBenchResult(values.out!, 'memory-plan', 'qwen3-1.7b-4b-8b', 'planner', {
  note:
    'Computed by src/train/memory-plan.ts in the shape of recipes/qwen3-1.7b-gtr-dapo.yaml; GiB per rank; ' +
    'gradients = fp32 accumulation + the bf16 .grad of backward; peak = max(update phase, rollout phase with the KV ' +
    "pool's minimum); KV room = what the rollout leaves on the GPU after a 2 GiB + 5% margin (the default " +
    "rollout.kv_cache_gib), in sequences of 1024 + 4096 tokens at once (at most max_num_seqs 256 and the rank's 1024 / W).",
  recipe: 'recipes/qwen3-1.7b-gtr-dapo.yaml',
  rows,
});
writeFileSync(file.replace(/\.json$/, '.md'), md);
console.log(md);
