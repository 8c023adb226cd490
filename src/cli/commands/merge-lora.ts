/**
 * `gtr merge-lora --model DIR [--adapter DIR] --out DIR [--dtype bf16|fp32] [--force]`: folds a
 * LoRA adapter (PEFT layout; default `<model>/adapter`, as a LoRA run's checkpoint holds it) into the
 * base weights (W += lora_alpha / r * B A, PEFT's merge_and_unload) and writes a plain HF checkpoint.
 */
import type { Command } from 'commander';
import { join } from 'node:path';
import { ADAPTER_SUBDIR, checkModelDir, isAdapterDir, resolveModelPath } from '../../checkpoint/index.js';
import { Policy } from '../../policy.js';
import { checkOutputDir, parseDTypeFlag } from './init-model.js';

export function register(program: Command): void {
  program
    .command('merge-lora')
    .description('merge a LoRA adapter (PEFT layout) into its base model; writes an HF checkpoint')
    .requiredOption(
      '--model <dir|id>',
      'base model directory or hub id (a LoRA checkpoint holds its adapter in adapter/)',
    )
    .option(
      '--adapter <dir>',
      `PEFT adapter directory (adapter_config.json, adapter_model.safetensors); default <model>/${ADAPTER_SUBDIR}`,
    )
    .requiredOption('--out <dir>', 'output checkpoint directory')
    .option('--dtype <dtype>', 'stored dtype: bf16 or fp32 (default: the base config.json dtype)')
    .option('--force', 'replace an existing file or non-empty directory at --out')
    .action(async (o: { model: string; adapter?: string; out: string; dtype?: string; force?: boolean }) => {
      checkOutputDir(o.out, o.force === true);
      o.model = await resolveModelPath(o.model, '--model');
      checkModelDir(o.model, '--model');
      const adapter = o.adapter ?? join(o.model, ADAPTER_SUBDIR);
      if (!isAdapterDir(adapter))
        throw new Error(
          o.adapter
            ? `--adapter: ${adapter} holds no adapter_config.json`
            : `--model: ${o.model} has no ${ADAPTER_SUBDIR}/adapter_config.json; give the adapter with --adapter DIR`,
        );
      // The merge is computed in float32 whatever the stored dtype (one rounding, at the save).
      const policy = await Policy.load(o.model, { device: 'cpu', dtype: 'float32', adapter });
      try {
        const stored = o.dtype ? parseDTypeFlag(o.dtype) : policy.config.dtype === 'float32' ? 'float32' : 'bfloat16';
        const spec = policy.lora!;
        await policy.mergeLora();
        await policy.save(o.out, { dtype: stored, tokenizerFrom: o.model });
        console.log(
          `wrote ${o.out}: ${o.model} + ${adapter} (r ${spec.r}, alpha ${spec.alpha}, ${spec.target_modules.join(', ')}) merged, ${stored}`,
        );
      } finally {
        policy.dispose();
      }
    });
}
