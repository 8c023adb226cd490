// `gtr inspect`, `gtr init-model`, `gtr score` end to end through the built CLI.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Policy } from '../src/policy.js';
import { Tokenizer } from '../src/tokenizer/index.js';
import { gtr } from './helpers/cli.js';

const scratch = await mkdtemp(join(tmpdir(), 'gtr-cli-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('gtr CLI foundation', () => {
  it('inspect reports versions and devices', async () => {
    const { stdout } = await gtr(['inspect', '--json']);
    const info = JSON.parse(stdout);
    expect(info.libtorch).toMatch(/^\d+\.\d+/);
    expect(info.devices[0]).toBe('cpu');
    expect(typeof info.cudaAvailable).toBe('boolean');
    // multi-GPU needs NCCL, which only a CUDA build can have
    expect(typeof info.ncclCompiled).toBe('boolean');
    if (!info.cudaCompiled) expect(info.ncclCompiled).toBe(false);
  });

  it('init-model writes an HF checkpoint that score loads; scores equal Policy.score', async () => {
    const out = join(scratch, 'tiny');
    await gtr(['init-model', '--config', 'tiny', '--seed', '7', '--out', out]);
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const cfg = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(cfg.model_type).toBe('qwen3');
    const text = 'Solve 12 * 7. Answer: 84';
    const { stdout } = await gtr(['score', '--model', out, '--text', text, '--json']);
    const res = JSON.parse(stdout) as { tokens: number[]; logprobs: (number | null)[] };
    const tok = await Tokenizer.fromDir(out);
    expect(res.tokens).toEqual(tok.encode(text));
    expect(res.logprobs[0]).toBeNull();
    const policy = await Policy.load(out);
    const lp = await policy.score(res.tokens);
    policy.dispose();
    for (let i = 1; i < lp.length; i++) expect(res.logprobs[i]).toBeCloseTo(lp[i], 5);
    // A random model spreads probability over the vocabulary: each token near -log(V).
    for (let i = 1; i < lp.length; i++) expect(Math.abs(lp[i] + Math.log(151936))).toBeLessThan(2);
  });

  it('the same seed writes the same weights; another seed does not', async () => {
    await gtr(['init-model', '--config', 'tiny', '--seed', '3', '--out', join(scratch, 's3a')]);
    await gtr(['init-model', '--config', 'tiny', '--seed', '3', '--out', join(scratch, 's3b')]);
    await gtr(['init-model', '--config', 'tiny', '--seed', '4', '--out', join(scratch, 's4')]);
    const a = await readFile(join(scratch, 's3a', 'model.safetensors'));
    expect(Buffer.compare(a, await readFile(join(scratch, 's3b', 'model.safetensors')))).toBe(0);
    expect(Buffer.compare(a, await readFile(join(scratch, 's4', 'model.safetensors')))).not.toBe(0);
  });

  it('reports a bad --config clearly', async () => {
    await expect(gtr(['init-model', '--config', 'nope', '--out', join(scratch, 'x')])).rejects.toThrow(
      /neither a preset .* nor a readable config\.json/,
    );
  });
});
