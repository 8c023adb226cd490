/**
 * `gtr checkpoint consolidate <run-or-checkpoint-dir> --out DIR [--dtype fp32|bf16] [--force]`:
 * rebuilds the full weights of a sharded checkpoint (train.sharding: optimizer | full) from every
 * rank's shard file and writes the Hugging Face layout (src/checkpoint/consolidate.ts).
 */
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { consolidateCheckpoint } from '../../checkpoint/index.js';
import { LATEST_FILE, TRAINER_STATE_DIR } from '../../run/dir.js';
import { checkOutputDir, parseDTypeFlag } from './init-model.js';

/** A checkpoint directory, or a run directory's latest checkpoint (its `latest` file). */
function checkpointOf(dir: string): string {
  if (existsSync(join(dir, TRAINER_STATE_DIR))) return dir;
  const latest = join(dir, LATEST_FILE);
  if (existsSync(latest)) return join(dir, readFileSync(latest, 'utf8').trim());
  throw new Error(
    `${dir}: neither a checkpoint (no ${TRAINER_STATE_DIR}/) nor a run directory (no latest file); give a run's checkpoints/step-N directory`,
  );
}

export function register(program: Command): void {
  const ckpt = program.command('checkpoint').description('work with training checkpoints');
  ckpt
    .command('consolidate')
    .description(
      "write the HF layout (safetensors + config) of a sharded checkpoint (train.sharding: optimizer | full) from every rank's shards",
    )
    .argument('<dir>', 'a checkpoint directory (checkpoints/step-N) or a run directory (its latest checkpoint)')
    .requiredOption('--out <dir>', 'output model directory')
    .option('--dtype <dtype>', 'stored dtype: fp32 (default; the fp32 masters as they are) or bf16')
    .option('--force', 'replace an existing file or non-empty directory at --out')
    .action(async (dir: string, o: { out: string; dtype?: string; force?: boolean }) => {
      checkOutputDir(o.out, o.force === true);
      const from = checkpointOf(dir);
      const dtype = o.dtype ? parseDTypeFlag(o.dtype) : 'float32';
      const r = await consolidateCheckpoint(from, o.out, { dtype, trainerStateDir: TRAINER_STATE_DIR });
      console.log(
        `wrote ${o.out}: ${r.tensors} tensors (${r.fromShards} from the shards of ${r.worldSize} ranks, train.sharding: ${r.sharding}), ${dtype}, ${r.files.join(', ')}`,
      );
    });
}
