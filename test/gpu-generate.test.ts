/**
 * Rollout engine on CUDA (native/generate/decode_step.*): the decode step through the native/cuda
 * kernels, eager (GTR_CUDA_GRAPHS=0) and captured in CUDA graphs. Greedy tokens must match exactly
 * between the two when the batch is a bucket size (same kernels, same shapes); sampled tokens too
 * (same uniforms); the fp32 CUDA path must reproduce transformers' greedy outputs on the parity
 * fixtures. Skipped when the addon sees no CUDA device or was built without the kernels.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { gpuReady } from './helpers/gpu.js';
import { Policy } from '../src/policy.js';
import { generateWithStats } from '../src/rollout/index.js';
import { parityDir } from './helpers/paths.js';
import { parityReference } from './helpers/parity.js';

const gpu = gpuReady();

/** head_dim 128, 16 / 8 heads: the real decode-attention kernel runs (the tiny fixtures fall back). */
const SMALL = {
  architectures: ['Qwen3ForCausalLM'],
  model_type: 'qwen3',
  attention_bias: false,
  hidden_act: 'silu',
  head_dim: 128,
  hidden_size: 512,
  intermediate_size: 1024,
  num_attention_heads: 16,
  num_key_value_heads: 8,
  num_hidden_layers: 3,
  vocab_size: 4096,
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-6,
  rope_theta: 1e6,
  tie_word_embeddings: true,
  initializer_range: 0.05,
  torch_dtype: 'bfloat16',
};

function prompts(n: number, seed: number, vocab: number): number[][] {
  let s = seed;
  const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: 5 + ((i * 7) % 23) }, () => Math.floor(next() * vocab)),
  );
}

async function run(policy: Policy, ps: number[][], graphs: boolean, opts: Record<string, unknown>) {
  const prev = process.env.GTR_CUDA_GRAPHS;
  process.env.GTR_CUDA_GRAPHS = graphs ? '1' : '0';
  try {
    return await generateWithStats(policy, ps, { maxNewTokens: 48, seed: 3, ...opts });
  } finally {
    if (prev === undefined) delete process.env.GTR_CUDA_GRAPHS;
    else process.env.GTR_CUDA_GRAPHS = prev;
  }
}

describe.skipIf(!gpu)('rollout engine on CUDA: kernels and CUDA graphs', () => {
  const policies: Policy[] = [];
  afterAll(() => policies.forEach((p) => p.dispose()));

  it('greedy and sampled tokens: CUDA graphs == eager kernels (batch = bucket size 8)', async () => {
    const policy = await Policy.random(SMALL, 11, { device: 'cuda', dtype: 'bfloat16' });
    policies.push(policy);
    const ps = prompts(8, 5, SMALL.vocab_size);
    for (const sampling of [{ temperature: 0 }, { temperature: 1, topP: 0.9 }, { temperature: 0.8, topK: 20 }]) {
      const g = await run(policy, ps, true, sampling);
      const e = await run(policy, ps, false, sampling);
      const gs = g.stats as unknown as Record<string, unknown>;
      const es = e.stats as unknown as Record<string, unknown>;
      console.log(
        `[generate] ${JSON.stringify(sampling)} graph stats ${JSON.stringify(gs)} eager stats ${JSON.stringify(es)}`,
      );
      expect(gs.cudaKernels).toBe(true);
      expect(Number(gs.graphSteps)).toBeGreaterThan(0);
      expect(Number(es.graphSteps)).toBe(0);
      let maxLp = 0;
      for (let i = 0; i < ps.length; i++) {
        expect(Array.from(g.rollouts[i]![0]!.tokens)).toEqual(Array.from(e.rollouts[i]![0]!.tokens));
        const a = g.rollouts[i]![0]!.logprobs,
          b = e.rollouts[i]![0]!.logprobs;
        for (let j = 0; j < a.length; j++) maxLp = Math.max(maxLp, Math.abs(a[j]! - b[j]!));
      }
      console.log(`[generate] ${JSON.stringify(sampling)} graph vs eager: tokens equal, max |dlogprob| ${maxLp}`);
      expect(maxLp).toBeLessThan(1e-5);
    }
  });

  it('a graph capture that throws ends the capture; the engine goes on with eager kernels and equals them', async () => {
    const policy = await Policy.random(SMALL, 12, { device: 'cuda', dtype: 'bfloat16' });
    policies.push(policy);
    const ps = prompts(8, 6, SMALL.vocab_size);
    const sampling = { temperature: 1, topP: 0.9 };
    process.env.GTR_TEST_CAPTURE_THROW = '1';
    let failed;
    try {
      failed = await run(policy, ps, true, sampling);
    } finally {
      delete process.env.GTR_TEST_CAPTURE_THROW;
    }
    const e = await run(policy, ps, false, sampling);
    expect(Number((failed.stats as unknown as Record<string, unknown>).graphSteps)).toBe(0);
    for (let i = 0; i < ps.length; i++)
      expect(Array.from(failed.rollouts[i]![0]!.tokens)).toEqual(Array.from(e.rollouts[i]![0]!.tokens));
    // the stream is not left capturing: graphs work again in the next call
    const g = await run(policy, ps, true, sampling);
    expect(Number((g.stats as unknown as Record<string, unknown>).graphSteps)).toBeGreaterThan(0);
  });

  it('ids past vocabSize (a padded vocabulary) are never sampled, with CUDA graphs and eager kernels', async () => {
    const policy = await Policy.random(SMALL, 13, { device: 'cuda', dtype: 'bfloat16' });
    policies.push(policy);
    const ps = prompts(8, 7, SMALL.vocab_size);
    const vocabSize = SMALL.vocab_size - 40;
    for (const graphs of [true, false])
      for (const sampling of [{ temperature: 2 }, { temperature: 1.5, topP: 0.95 }, { temperature: 0 }]) {
        const r = await run(policy, ps, graphs, { ...sampling, vocabSize });
        const maxId = Math.max(...r.rollouts.flat().map((s) => Math.max(...s.tokens)));
        expect(maxId, JSON.stringify({ graphs, sampling })).toBeLessThan(vocabSize);
      }
  });

  it('padded buckets (batch 5 -> 8) and continuous batching (12 sequences in 5 slots) run and stay close to eager', async () => {
    const policy = policies[0]!;
    const ps = prompts(5, 9, SMALL.vocab_size);
    for (const opts of [{ temperature: 0 }, { temperature: 0, n: 3, maxNumSeqs: 5 }]) {
      const g = await run(policy, ps.slice(0, opts.n ? 4 : 5), true, opts);
      const e = await run(policy, ps.slice(0, opts.n ? 4 : 5), false, opts);
      let same = 0,
        total = 0;
      for (let i = 0; i < g.rollouts.length; i++)
        for (let j = 0; j < g.rollouts[i]!.length; j++) {
          const a = g.rollouts[i]![j]!.tokens,
            b = e.rollouts[i]![j]!.tokens;
          expect(a.length).toBe(b.length);
          expect(a[0]).toBe(b[0]); // the first token comes from the (eager) prefill step in both
          total++;
          if (
            Buffer.compare(
              Buffer.from(a.buffer, a.byteOffset, a.byteLength),
              Buffer.from(b.buffer, b.byteOffset, b.byteLength),
            ) === 0
          )
            same++;
        }
      console.log(
        `[generate] ${JSON.stringify(opts)}: ${same}/${total} sequences identical graph vs eager; graphs ${JSON.stringify((g.stats as unknown as Record<string, unknown>).graphs)}`,
      );
      expect(same).toBeGreaterThanOrEqual(Math.ceil(total / 2));
    }
  });

  for (const name of ['tied', 'untied'] as const) {
    it(`fp32 on CUDA (kernels + graphs) equals transformers' greedy outputs (${name} parity fixture)`, async () => {
      const ref = parityReference(name);
      const policy = await Policy.load(parityDir(name), { device: 'cuda', dtype: 'float32' });
      policies.push(policy);
      const res = await run(policy, ref.greedy.prompts, true, { temperature: 0, maxNewTokens: ref.greedy.new_tokens });
      for (let i = 0; i < ref.greedy.prompts.length; i++)
        expect(Array.from(res.rollouts[i]![0]!.tokens)).toEqual(ref.greedy.outputs[i]);
    });
  }
});
