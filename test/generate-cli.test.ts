/** `gtr generate`: prompts from flags or JSONL, chat template, JSON output (tiny random checkpoint). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { presetConfig } from '../src/checkpoint/index.js';
import { buildProgram } from '../src/cli/main.js';
import { Policy } from '../src/policy.js';
import { generate } from '../src/rollout/index.js';
import { Tokenizer } from '../src/tokenizer/index.js';

async function runCli(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    const program = await buildProgram();
    program.exitOverride();
    await program.parseAsync(['node', 'gtr', ...args]);
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  return lines;
}

describe('gtr generate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gtr-generate-'));
    const p = await Policy.random({ ...presetConfig('tiny') }, 1, { device: 'cpu', dtype: 'float32', std: 0.3 });
    await p.save(join(dir, 'ckpt'));
    p.dispose();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--prompt --chat --json prints greedy completions equal to the library call', async () => {
    const model = join(dir, 'ckpt');
    const lines = await runCli([
      'generate',
      '--model',
      model,
      '--prompt',
      'Hello',
      '--chat',
      '--n',
      '2',
      '--max-new-tokens',
      '5',
      '--temperature',
      '0',
      '--json',
      '--no-stop',
    ]);
    expect(lines.length).toBe(3); // two completions, then the engine statistics
    const rows = lines.map((l) => JSON.parse(l));
    const { stats } = rows.pop();
    expect(stats.promptPrefills).toBe(1);
    expect(stats.kvBytes).toBeGreaterThan(0);
    expect(stats.blocksInUseEnd).toBe(0);
    expect(stats.preemptions).toBe(0);
    const tok = await Tokenizer.fromDir(model);
    const ids = tok.applyChatTemplate([{ role: 'user', content: 'Hello' }], {
      addGenerationPrompt: true,
      tokenize: true,
    });
    const policy = await Policy.load(model);
    const ref = await generate(policy, [ids], { temperature: 0, maxNewTokens: 5 });
    policy.dispose();
    for (const r of rows) {
      expect(r.tokens).toEqual(Array.from(ref[0]![0]!.tokens));
      expect(r.logprobs.length).toBe(5);
      expect(r.finishReason).toBe('length');
      expect(r.text).toBe(tok.decode(r.tokens));
    }
  });

  it('--prompts reads JSONL (strings, {prompt}, {messages}) and names a bad line', async () => {
    const model = join(dir, 'ckpt');
    const file = join(dir, 'p.jsonl');
    writeFileSync(file, '"2+2="\n{"prompt": "abc"}\n{"messages": [{"role": "user", "content": "hi"}]}\n');
    const lines = await runCli([
      'generate',
      '--model',
      model,
      '--prompts',
      file,
      '--max-new-tokens',
      '3',
      '--seed',
      '4',
      '--json',
    ]);
    expect(lines.slice(0, -1).map((l) => JSON.parse(l).prompt)).toEqual([0, 1, 2]);
    writeFileSync(file, '"ok"\n{"nope": 1}\n');
    await expect(runCli(['generate', '--model', model, '--prompts', file])).rejects.toThrow(/p\.jsonl:2/);
  });
});
