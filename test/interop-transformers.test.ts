// Interop: a checkpoint written by `gtr train` in bf16 loads in Hugging Face transformers, and its
// logits there agree with `gtr score` on the same text, for each architecture (Qwen3, Qwen2, Llama).
// The tiny recipe trains two steps from a random bf16 tiny model of the architecture (a test grader
// rewards odd-length responses, so groups carry signal and the weights really change), evaluating
// at the end; transformers (python, installed by .ci/run) loads the checkpoint.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gtr } from './helpers/cli.js';
import { dataDir, repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const hf = pythonHas(['torch', 'transformers']);
if (!hf.ok) console.warn(`skipping the transformers interop test: ${hf.why}`);

const TEXT = 'What is 17 + 25? Think step by step. The answer is \\boxed{42}.';
const root = mkdtempSync(join(tmpdir(), 'gtr-interop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Scored {
  tokens: number[];
  logprobs: (number | null)[];
}

// tiny-qwen2 runs the shipped Qwen2.5-Math-1.5B recipe itself, in the tiny shape (its CPU check).
describe.skipIf(!hf.ok).each([
  ['tiny', 'qwen3', 'tiny-gtr-dapo.yaml'],
  ['tiny-qwen2', 'qwen2', 'qwen2.5-math-1.5b-grpo-dapo.yaml'],
  ['tiny-llama', 'llama', 'tiny-gtr-dapo.yaml'],
])(
  `a gtr train bf16 checkpoint of %s (%s, %s) in transformers${hf.ok ? '' : ` (skipped: ${hf.why})`}`,
  (preset, modelType, recipe) => {
    const scratch = join(root, preset);
    const ckpt = join(scratch, 'run', 'checkpoints', 'step-000002', 'policy');
    beforeAll(async () => {
      mkdirSync(scratch, { recursive: true });
      writeFileSync(
        join(scratch, 'grader.mjs'),
        'export default function grade(response) { return response.length % 2; }\n',
      );
      await gtr(['init-model', '--config', preset, '--out', join(scratch, 'init'), '--dtype', 'bf16', '--seed', '3']);
      await gtr([
        'train',
        join(repoRoot, 'recipes', recipe),
        ...[
          `model.path=${join(scratch, 'init')}`,
          'model.dtype=bfloat16',
          'model.device=cpu',
          `run.dir=${join(scratch, 'run')}`,
          `data.data_dir=${dataDir}`,
          'data.max_prompt_tokens=512',
          'rollout.samples_per_prompt=4',
          'rollout.max_new_tokens=8',
          'train.prompts_per_step=2',
          'train.mini_batches_per_epoch=2',
          'train.tokens_per_micro_batch=4096',
          'train.steps=2',
          'train.warmup_steps=0',
          'train.lr=1e-3',
          'checkpoint.every_steps=2',
          // the new architectures also run the evaluation once, after the last step
          `eval.every_steps=${preset === 'tiny' ? 0 : 2}`,
          'eval.benchmarks=[amc23]',
          'eval.n=2',
          'eval.k=[1, 2]',
          'eval.limit=2',
          'eval.max_new_tokens=8',
          `reward.grader={module: ${join(scratch, 'grader.mjs')}}`,
        ].flatMap((kv) => ['--set', kv]),
      ]);
    }, 300_000);

    it('is stored in bf16, keeps its architecture and was changed by training', () => {
      const cfg = JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8'));
      expect(cfg.torch_dtype).toBe('bfloat16');
      expect(cfg.model_type).toBe(modelType);
      expect(existsSync(join(ckpt, 'generation_config.json'))).toBe(true);
      expect(existsSync(join(ckpt, 'tokenizer.json'))).toBe(true);
      // the evaluation ran on the trained model (the new architectures only)
      expect(existsSync(join(scratch, 'run', 'eval', 'step-000002.json'))).toBe(preset !== 'tiny');
      expect(
        Buffer.compare(
          readFileSync(join(ckpt, 'model.safetensors')),
          readFileSync(join(scratch, 'init', 'model.safetensors')),
        ),
      ).not.toBe(0);
    });

    // fp32: the same bf16 weights upcast on both sides, only summation order differs. bf16: both
    // compute in bf16, so rounding may differ by kernel (measured 7e-6 here; bf16 eps is 8e-3).
    it.each([
      ['float32', 'fp32', 1e-3],
      ['bfloat16', 'bf16', 5e-2],
    ] as const)(
      'loads in transformers with the same tokens and log-probs as gtr score (%s compute)',
      async (torchDtype, flag, tol) => {
        const ref = JSON.parse(
          execFileSync(python, [join(repoRoot, 'test', 'python', 'hf_logprobs.py'), ckpt, TEXT, torchDtype], {
            encoding: 'utf8',
            timeout: 300_000,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
        ) as Scored & { stored_dtype: string; transformers: string };
        expect(ref.stored_dtype).toBe('bfloat16');
        const ours = JSON.parse(
          (await gtr(['score', '--model', ckpt, '--text', TEXT, '--json', '--dtype', flag])).stdout,
        ) as Scored;
        expect(ours.tokens).toEqual(ref.tokens);
        expect(ours.logprobs[0]).toBeNull();
        expect(ref.logprobs[0]).toBeNull();
        let maxDiff = 0;
        for (let i = 1; i < ref.tokens.length; i++)
          maxDiff = Math.max(maxDiff, Math.abs(ours.logprobs[i]! - ref.logprobs[i]!));
        expect(maxDiff).toBeLessThan(tol);
        console.log(
          `[${preset}] transformers ${ref.transformers}, ${torchDtype}: max |log-prob difference| ${maxDiff.toExponential(2)} over ${ref.tokens.length - 1} tokens`,
        );
      },
      300_000,
    );
  },
);
