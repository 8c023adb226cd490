// LoRA in PEFT's layout. (1) An adapter PEFT itself made (random B) on a tiny transformers model
// loads here with PEFT's fp32 logits (within 1e-4), and merging gives PEFT's merged logits.
// (2) The shipped Qwen3-8B LoRA recipe, in the tiny shape on CPU, trains two steps: the frozen bf16
// base is byte-identical in the checkpoint, the trainer state holds AdamW state for the adapters
// only, PEFT loads the written adapter on the base with the log-probs `gtr score` gives, and
// `gtr merge-lora` writes a checkpoint transformers loads with the same log-probs, and `--resume`
// continues from the LoRA checkpoint with the base still frozen.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loraParameterCount,
  parseQwen3Config,
  parseSafetensorsHeader,
  presetConfig,
  trainingMemoryBytes,
} from '../src/checkpoint/index.js';
import { Policy } from '../src/policy.js';
import { gtr } from './helpers/cli.js';
import { maxAbsDiff, pack } from './helpers/parity.js';
import { dataDir, repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const peft = pythonHas(['torch', 'transformers', 'peft']);
if (!peft.ok) console.warn(`skipping the PEFT LoRA tests: ${peft.why}`);
const scratch = mkdtempSync(join(tmpdir(), 'gtr-lora-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const script = join(repoRoot, 'test', 'python', 'peft_reference.py');
const py = (args: string[]) =>
  JSON.parse(
    execFileSync(python, [script, ...args], {
      encoding: 'utf8',
      timeout: 300_000,
      maxBuffer: 256 << 20,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );

describe('LoRA sizes', () => {
  it('counts Qwen3-8B adapters (r 32, every projection) and the memory LoRA saves', () => {
    const c = parseQwen3Config(presetConfig('qwen3-8b')).native;
    const n = loraParameterCount(c, {
      r: 32,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    });
    // per layer: 32 x ((4096+4096) + 2 (4096+1024) + (4096+4096) + 2 (4096+12288) + (12288+4096)), 36 layers
    expect(n).toBe(87_293_952);
    const m = trainingMemoryBytes(8_190_735_360, n);
    expect(m.full).toBe(8_190_735_360 * 18);
    expect(m.lora).toBe(8_190_735_360 * 2 + n * 18);
  });
});

describe.skipIf(!peft.ok)(`LoRA against PEFT${peft.ok ? '' : ` (skipped: ${peft.why})`}`, () => {
  it("loads a PEFT adapter with PEFT's logits, and merges to PEFT's merged logits (fp32, 1e-4)", async () => {
    const base = join(scratch, 'peft-base');
    const adapter = join(scratch, 'peft-adapter');
    const ref = py(['make', base, adapter]) as { sequences: number[][]; logits: number[]; merged: number[] };
    const policy = await Policy.load(base, { dtype: 'float32', adapter });
    try {
      expect(policy.lora).toMatchObject({ r: 4, alpha: 8 });
      expect(policy.numTrainable).toBe(loraParameterCount(policy.config.native, policy.lora!));
      const { tokens, seqLens } = pack(ref.sequences);
      const before = await policy.native.forwardLogits(tokens, seqLens);
      expect(maxAbsDiff(before, ref.logits)).toBeLessThan(1e-4);
      const plain = await Policy.load(base, { dtype: 'float32' });
      expect(maxAbsDiff(await plain.native.forwardLogits(tokens, seqLens), ref.logits)).toBeGreaterThan(1e-2);
      plain.dispose();
      await policy.mergeLora();
      expect(policy.native.adapterInfo()).toEqual([]);
      expect(maxAbsDiff(await policy.native.forwardLogits(tokens, seqLens), ref.merged)).toBeLessThan(1e-4);
    } finally {
      policy.dispose();
    }
  }, 300_000);

  it('refuses adapters it cannot apply as PEFT would, naming the field', async () => {
    const base = join(scratch, 'peft-base');
    const bad = join(scratch, 'bad-adapter');
    execFileSync('cp', ['-r', join(scratch, 'peft-adapter'), bad]);
    const cfg = JSON.parse(readFileSync(join(bad, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, use_dora: true }));
    await expect(Policy.load(base, { adapter: bad })).rejects.toThrow(
      /adapter_config\.json: field use_dora: DoRA is not supported/,
    );
    writeFileSync(join(bad, 'adapter_config.json'), JSON.stringify({ ...cfg, target_modules: ['lm_head'] }));
    await expect(Policy.load(base, { adapter: bad })).rejects.toThrow(/field target_modules/);
  });

  describe('the Qwen3-8B LoRA recipe in the tiny shape (CPU, bf16 base)', () => {
    const init = join(scratch, 'init');
    const ckpt = join(scratch, 'run', 'checkpoints', 'step-000002');
    const TEXT = 'What is 17 + 25? The answer is \\boxed{42}.';
    const overrides = (steps = 2) =>
      [
        `model.path=${init}`,
        'model.device=cpu',
        'model.lora.r=4',
        'model.lora.alpha=8',
        `run.dir=${join(scratch, 'run')}`,
        `data.data_dir=${dataDir}`,
        'data.max_prompt_tokens=512',
        'rollout.samples_per_prompt=4',
        'rollout.max_new_tokens=8',
        'train.prompts_per_step=2',
        'train.mini_batches_per_epoch=2',
        'train.tokens_per_micro_batch=4096',
        `train.steps=${steps}`,
        'train.warmup_steps=0',
        'train.lr=1e-2',
        'checkpoint.every_steps=2',
        'eval.every_steps=0',
        `reward.grader={module: ${join(scratch, 'grader.mjs')}}`,
      ].flatMap((kv) => ['--set', kv]);
    beforeAll(async () => {
      writeFileSync(
        join(scratch, 'grader.mjs'),
        'export default function grade(response) { return response.length % 2; }\n',
      );
      await gtr(['init-model', '--config', 'tiny', '--out', init, '--dtype', 'bf16', '--seed', '3']);
      await gtr(['train', join(repoRoot, 'recipes', 'qwen3-8b-lora-grpo-dapo.yaml'), ...overrides()]);
    }, 600_000);

    it('keeps the bf16 base frozen and holds AdamW state for the adapters only', async () => {
      expect(
        readFileSync(join(ckpt, 'policy', 'model.safetensors')).equals(readFileSync(join(init, 'model.safetensors'))),
      ).toBe(true);
      const adapterCfg = JSON.parse(readFileSync(join(ckpt, 'policy', 'adapter', 'adapter_config.json'), 'utf8'));
      expect(adapterCfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, base_model_name_or_path: init });
      const state = await parseSafetensorsHeader(join(ckpt, 'trainer.state', 'optimizer.safetensors'));
      const params = state.tensors.map((t) => t.name).filter((n) => /^(exp_avg|exp_avg_sq|master)\./.test(n));
      expect(params.length).toBeGreaterThan(0);
      expect(params.every((n) => n.includes('.lora_'))).toBe(true);
      // two layers x seven projections; the next test shows the trained adapters moved the log-probs
      const ad = await parseSafetensorsHeader(join(ckpt, 'policy', 'adapter', 'adapter_model.safetensors'));
      expect(ad.tensors.filter((t) => t.name.endsWith('lora_B.weight'))).toHaveLength(2 * 7);
      expect(existsSync(join(ckpt, 'policy', 'adapter', 'adapter_model.safetensors'))).toBe(true);
    });

    it('PEFT loads the adapter with the log-probs gtr score gives; merge-lora matches too', async () => {
      const policyDir = join(ckpt, 'policy');
      const ref = py(['logprobs', policyDir, join(policyDir, 'adapter'), TEXT]) as {
        tokens: number[];
        logprobs: (number | null)[];
      };
      const ours = JSON.parse(
        (await gtr(['score', '--model', policyDir, '--text', TEXT, '--json', '--dtype', 'fp32'])).stdout,
      ) as {
        tokens: number[];
        logprobs: (number | null)[];
      };
      expect(ours.tokens).toEqual(ref.tokens);
      const base = py(['merged-logprobs', policyDir, TEXT]) as { logprobs: (number | null)[] };
      let diff = 0,
        moved = 0;
      for (let i = 1; i < ref.tokens.length; i++) {
        diff = Math.max(diff, Math.abs(ours.logprobs[i]! - ref.logprobs[i]!));
        moved = Math.max(moved, Math.abs(base.logprobs[i]! - ref.logprobs[i]!));
      }
      console.log(
        `[lora] |gtr - PEFT| ${diff.toExponential(2)}; adapter moved log-probs by up to ${moved.toExponential(2)}`,
      );
      expect(diff).toBeLessThan(1e-3);
      expect(moved).toBeGreaterThan(1e-3); // the adapter changed the model, so the check has teeth

      const merged = join(scratch, 'merged');
      await gtr(['merge-lora', '--model', policyDir, '--out', merged, '--dtype', 'fp32']);
      expect(existsSync(join(merged, 'adapter'))).toBe(false);
      const m = py(['merged-logprobs', merged, TEXT]) as { logprobs: (number | null)[] };
      let dm = 0;
      for (let i = 1; i < ref.tokens.length; i++) dm = Math.max(dm, Math.abs(m.logprobs[i]! - ref.logprobs[i]!));
      expect(dm).toBeLessThan(1e-3);
    }, 300_000);

    it('resumes from the LoRA checkpoint (adapters and their AdamW state) and keeps the base frozen', async () => {
      await gtr(['train', join(repoRoot, 'recipes', 'qwen3-8b-lora-grpo-dapo.yaml'), ...overrides(3), '--resume']);
      const step3 = join(scratch, 'run', 'checkpoints', 'step-000003', 'policy');
      expect(readFileSync(join(step3, 'model.safetensors')).equals(readFileSync(join(init, 'model.safetensors')))).toBe(
        true,
      );
      const a2 = readFileSync(join(ckpt, 'policy', 'adapter', 'adapter_model.safetensors'));
      const a3 = readFileSync(join(step3, 'adapter', 'adapter_model.safetensors'));
      expect(a3.length).toBe(a2.length);
      expect(a3.equals(a2)).toBe(false); // step 3 trained the adapters further
    }, 300_000);
  });
});
