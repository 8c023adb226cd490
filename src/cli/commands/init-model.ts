/**
 * `gtr init-model --config <config.json | preset> --seed N --out DIR [--dtype bf16|fp32] [--force]`:
 * writes a randomly initialised Qwen3 / Qwen2 / Llama checkpoint in the HF layout, with the bundled Qwen3 tokenizer
 * files. An existing file or non-empty directory at --out is replaced only with --force.
 */
import type { Command } from 'commander';
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  MODEL_TYPES,
  QWEN3_PRESETS,
  checkModelFitsMemory,
  parseQwen3Config,
  presetConfig,
  type Qwen3PresetName,
} from '../../checkpoint/index.js';
import { Policy } from '../../policy.js';
import { numberFlag, seedFlag } from '../flags.js';

/** 'bf16' | 'bfloat16' | 'fp32' | 'float32' -> DType; throws naming the flag. */
export function parseDTypeFlag(v: string): 'float32' | 'bfloat16' {
  if (v === 'bf16' || v === 'bfloat16') return 'bfloat16';
  if (v === 'fp32' || v === 'float32') return 'float32';
  throw new Error(`--dtype must be bf16 or fp32, got "${v}"`);
}

/**
 * A preset name or a path to a config.json, as a config object. A file is validated here, so its
 * errors name it: a bad field (`<file>: field vocab_size: ...`) or a model too big for this
 * machine's memory.
 */
export async function resolveConfigArg(arg: string, dtype?: 'float32' | 'bfloat16'): Promise<Record<string, unknown>> {
  if ((QWEN3_PRESETS as readonly string[]).includes(arg)) return presetConfig(arg as Qwen3PresetName, dtype);
  let text: string;
  try {
    text = await readFile(arg, 'utf8');
  } catch {
    throw new Error(`--config: "${arg}" is neither a preset (${QWEN3_PRESETS.join(', ')}) nor a readable config.json`);
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${arg}: invalid JSON (${(e as Error).message})`);
  }
  const parsed = parseQwen3Config(cfg, arg);
  checkModelFitsMemory(parsed.native, dtype ?? (cfg.torch_dtype === 'float32' ? 'float32' : 'bfloat16'), 'cpu', arg);
  return dtype ? { ...cfg, torch_dtype: dtype } : cfg;
}

/**
 * Refuses an --out that would replace something: a file (or anything not a directory), or a
 * directory with entries (a trained checkpoint, say). A missing or empty directory is fine.
 * @throws Error naming --out, what is there and --force, unless `force`
 */
export function checkOutputDir(out: string, force: boolean): void {
  if (force) return;
  const st = statSync(out, { throwIfNoEntry: false });
  if (!st) return;
  if (!st.isDirectory()) throw new Error(`--out ${out}: a file exists there; pass --force to replace it`);
  const entries = readdirSync(out);
  if (entries.length > 0) {
    const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? `, ... (${entries.length} entries)` : '');
    throw new Error(`--out ${out}: the directory is not empty (${shown}); pass --force to replace it`);
  }
}

export function register(program: Command): void {
  program
    .command('init-model')
    .description('write a randomly initialised Qwen3, Qwen2 or Llama checkpoint (HF layout, with tokenizer files)')
    .requiredOption(
      '--config <config>',
      `a config.json path (model_type ${MODEL_TYPES.join(', ')}) or a preset: ${QWEN3_PRESETS.join(', ')}`,
    )
    .requiredOption('--out <dir>', 'output checkpoint directory')
    .option('--seed <n>', 'random seed', '0')
    .option('--dtype <dtype>', "stored dtype: bf16 or fp32 (default: the config's, fp32 for tiny)")
    .option('--std <x>', 'init standard deviation (default: config initializer_range, 0.02)')
    .option('--force', 'replace an existing file or non-empty directory at --out')
    .action(
      async (opts: { config: string; out: string; seed: string; dtype?: string; std?: string; force?: boolean }) => {
        checkOutputDir(opts.out, opts.force === true);
        const dtype = opts.dtype ? parseDTypeFlag(opts.dtype) : undefined;
        const cfg = await resolveConfigArg(opts.config, dtype);
        const stored = dtype ?? (cfg.torch_dtype === 'float32' ? 'float32' : 'bfloat16');
        const t0 = Date.now();
        // Random init and the save run in the stored dtype, so a 1.7B bf16 model needs ~3.4 GB.
        const policy = await Policy.random(cfg, seedFlag()(opts.seed), {
          device: 'cpu',
          dtype: stored,
          std: opts.std ? numberFlag('--std', { min: 0 })(opts.std) : undefined,
        });
        try {
          await policy.save(opts.out);
          console.log(
            `wrote ${opts.out}: ${policy.numParameters.toLocaleString('en-US')} parameters, ${stored}, seed ${opts.seed} (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
          );
        } finally {
          policy.dispose();
        }
      },
    );
}
