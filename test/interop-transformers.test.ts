// Interop: a checkpoint written by `gtr train` in bf16 loads in Hugging Face transformers, and its
// logits there agree with `gtr score` on the same text. The tiny recipe trains two steps from a
// random bf16 tiny Qwen3 (a test grader rewards odd-length responses, so groups carry signal and
// the weights really change); transformers (python, installed by .ci/run) loads the checkpoint.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gtr } from './helpers/cli.js';
import { dataDir, repoRoot } from './helpers/paths.js';
import { python, pythonHas } from './helpers/python.js';

const hf = pythonHas(['torch', 'transformers']);
if (!hf.ok) console.warn(`skipping the transformers interop test: ${hf.why}`);

const TEXT = 'What is 17 + 25? Think step by step. The answer is \\boxed{42}.';
const scratch = mkdtempSync(join(tmpdir(), 'gtr-interop-'));
const ckpt = join(scratch, 'run', 'checkpoints', 'step-000002', 'policy');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Scored {
  tokens: number[];
  logprobs: (number | null)[];
}

describe.skipIf(!hf.ok)(`a gtr train bf16 checkpoint in transformers${hf.ok ? '' : ` (skipped: ${hf.why})`}`, () => {
  beforeAll(async () => {
    writeFileSync(
      join(scratch, 'grader.mjs'),
      'export default function grade(response) { return response.length % 2; }\n',
    );
    await gtr(['init-model', '--config', 'tiny', '--out', join(scratch, 'init'), '--dtype', 'bf16', '--seed', '3']);
    await gtr([
      'train',
      join(repoRoot, 'recipes', 'tiny-gtr-dapo.yaml'),
      '--set',
      `model.path=${join(scratch, 'init')}`,
      '--set',
      'model.dtype=bfloat16',
      '--set',
      `run.dir=${join(scratch, 'run')}`,
      '--set',
      `data.data_dir=${dataDir}`,
      '--set',
      'eval.every_steps=0',
      '--set',
      'rollout.max_new_tokens=8',
      '--set',
      'train.lr=1e-3',
      '--set',
      `reward.grader={module: ${join(scratch, 'grader.mjs')}}`,
    ]);
  }, 300_000);

  it('is stored in bf16 and was changed by training', () => {
    expect(JSON.parse(readFileSync(join(ckpt, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
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
        `transformers ${ref.transformers}, ${torchDtype}: max |log-prob difference| ${maxDiff.toExponential(2)} over ${ref.tokens.length - 1} tokens`,
      );
    },
    300_000,
  );
});
