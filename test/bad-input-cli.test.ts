// Issue 19 items 8, 9, 11, 12, 15, 16 through the built CLI (bin/gtr.js -> dist/): every bad input
// fails fast with a message naming the flag, path or limit, and padded-vocabulary samples decode.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensorsHeader } from '../src/checkpoint/safetensors.js';
import { gtr } from './helpers/cli.js';
import { dataDir, repoRoot } from './helpers/paths.js';

const scratch = mkdtempSync(join(tmpdir(), 'gtr-bad-cli-'));
const model = join(scratch, 'tiny');
const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/bad-input/${f}`, import.meta.url));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
beforeAll(async () => {
  await gtr(['init-model', '--config', 'tiny', '--seed', '1', '--out', model]);
}, 120_000);

// fails(args): runs the CLI expecting exit 1 and returns its stderr.
async function fails(args: string[], env?: Record<string, string>): Promise<string> {
  const r = await gtr(args, { env }).then(
    () => null,
    (e: { code: number; stderr: string }) => e,
  );
  expect(r, `gtr ${args.join(' ')} should fail`).not.toBeNull();
  expect(r!.code).toBe(1);
  return r!.stderr;
}

describe('gtr generate on a padded vocabulary (item 12)', () => {
  it("never samples an id past the tokenizer (the issue's repro, which used to sample them)", async () => {
    const { stdout } = await gtr(['generate', '--model', model, '--prompt', '1+1=', '--seed', '2', '--json']);
    const r = JSON.parse(stdout.trim().split('\n')[0]!);
    const vocab = 151669; // Qwen3 tokenizer ids; tiny's vocab_size is 151936
    // This seed drew padded ids (>= 151669) before generate passed the tokenizer's size (vocabSize).
    expect(r.tokens.length).toBeGreaterThan(0);
    expect(r.tokens.filter((id: number) => id >= vocab)).toEqual([]);
    expect(typeof r.text).toBe('string');
  }, 120_000);
});

describe('NaN weights (issue 32)', () => {
  it('are refused at load by generate and score, naming the file and tensor', async () => {
    // Issue 32: `gtr score --json` wrote the NaN log-probs as null and `gtr generate` emitted id
    // 151935, past the tokenizer; both exited 0.
    const nan = join(scratch, 'nan-model');
    cpSync(model, nan, { recursive: true });
    const file = join(nan, 'model.safetensors');
    const h = await parseSafetensorsHeader(file);
    const t = h.tensors.find((e) => e.name.endsWith('q_proj.weight'))!;
    const bytes = readFileSync(file);
    // A quiet NaN in the first element (its two high bytes, for F32 and BF16 alike).
    const at = t.offset + (t.dtype === 'F32' ? 2 : 0);
    bytes[at] = 0xc0;
    bytes[at + 1] = 0x7f;
    writeFileSync(file, bytes);
    const want = new RegExp(`model\\.safetensors: tensor '${t.name.replace(/\./g, '\\.')}' holds 1 non-finite values`);
    expect(await fails(['generate', '--model', nan, '--prompt', '1+1=', '--json'])).toMatch(want);
    expect(await fails(['score', '--model', nan, '--text', '1+1=2', '--json'])).toMatch(want);
  }, 120_000);
});

describe('boolean flags (issue 32)', () => {
  it('--enable-thinking accepts True / 1 / yes as true and refuses a non-boolean, naming the flag', async () => {
    // Issue 32: only the exact word "true" meant true; "True", "1", "yes" silently meant false.
    const tokens = async (v: string) => {
      const args = ['generate', '--model', model, '--prompt', '1+1=', '--chat', '--enable-thinking', v];
      const { stdout } = await gtr([...args, '--seed', '3', '--max-new-tokens', '6', '--json']);
      return JSON.parse(stdout.trim().split('\n')[0]!).tokens as number[];
    };
    const yes = await tokens('true');
    expect(await tokens('True')).toEqual(yes);
    expect(await tokens('1')).toEqual(yes);
    expect(await tokens('yes')).toEqual(yes);
    expect(await tokens('false')).not.toEqual(yes); // the switch changes the prompt, so the sample
    expect(await fails(['generate', '--model', model, '--prompt', 'x', '--enable-thinking', 'maybe'])).toMatch(
      /--enable-thinking must be true or false \(also 1\/0, yes\/no, on\/off\), got "maybe"/,
    );
  }, 120_000);
});

describe('context length and ranges (items 9, 16)', () => {
  const long = '1+1='.repeat(3000); // 12000 tokens; tiny's max_position_embeddings is 4096
  it('generate and score refuse a prompt past max_position_embeddings, naming the limit', async () => {
    expect(await fails(['generate', '--model', model, '--prompt', long])).toContain(
      `--prompt is 12000 tokens + --max-new-tokens 256 = 12256, past the model's context of 4096 tokens (max_position_embeddings in ${model}/config.json)`,
    );
    expect(await fails(['score', '--model', model, '--text', long])).toContain(
      "--text is 12000 tokens, past the model's context of 4096 tokens",
    );
  }, 60_000);

  it('--max-new-tokens 1e9 names the flag (generate, eval), not a libtorch allocation', async () => {
    expect(await fails(['generate', '--model', model, '--prompt', '1', '--max-new-tokens', '1e9'])).toContain(
      "--max-new-tokens 1000000000 does not fit the model's context of 4096 tokens",
    );
    expect(
      await fails([
        'eval',
        '--model',
        model,
        '--benchmarks',
        'math500',
        '--max-new-tokens',
        '1e9',
        '--out',
        join(scratch, 'e'),
      ]),
    ).toContain('--max-new-tokens 1000000000 does not fit');
    expect(
      await fails([
        'eval',
        '--model',
        model,
        '--benchmarks',
        'amc23',
        '--limit',
        '1',
        '--n',
        '1',
        '--k',
        '1',
        '--max-new-tokens',
        '4090',
        '--data-dir',
        dataDir,
        '--out',
        join(scratch, 'e'),
      ]),
    ).toMatch(
      /benchmark amc23 problem "[^"]+": the prompt is \d+ tokens \+ --max-new-tokens 4090 = \d+, past the model's context of 4096 tokens/,
    );
  }, 60_000);

  it('init-model names the config file and field for vocab_size 1e12, and refuses a model bigger than memory', async () => {
    const huge = fixture('huge-vocab.config.json');
    expect(await fails(['init-model', '--config', huge, '--out', join(scratch, 'h')])).toContain(
      `${huge}: field vocab_size: must be below 2^31`,
    );
    const big = fixture('huge-model.config.json');
    expect(await fails(['init-model', '--config', big, '--out', join(scratch, 'h')])).toMatch(
      /huge-model\.config\.json: a model of 8\.19e\+12 parameters needs .* GB in float32, more than this machine's/,
    );
  }, 60_000);
});

describe('strict numeric flags (item 11)', () => {
  it('rejects --seed xyz in generate, eval and init-model, naming the flag', async () => {
    expect(await fails(['generate', '--model', model, '--prompt', '1', '--seed', 'xyz'])).toContain(
      '--seed must be an integer >= 0, got "xyz"',
    );
    expect(await fails(['eval', '--model', model, '--seed', 'xyz', '--out', join(scratch, 'e')])).toContain(
      '--seed must be an integer >= 0, got "xyz"',
    );
    expect(await fails(['init-model', '--config', 'tiny', '--seed', 'xyz', '--out', join(scratch, 'z')])).toContain(
      '--seed must be an integer >= 0, got "xyz"',
    );
    expect(await fails(['generate', '--model', model, '--prompt', '1', '--n', '2.5'])).toContain(
      '--n must be an integer >= 1, got "2.5"',
    );
  }, 60_000);

  it('eval refuses --benchmarks "" instead of writing an empty report', async () => {
    const out = join(scratch, 'empty-bench');
    expect(await fails(['eval', '--model', model, '--benchmarks', '', '--out', out])).toContain(
      '--benchmarks: no benchmark named',
    );
    expect(existsSync(join(out, 'report.json'))).toBe(false);
  }, 60_000);
});

describe('outputs checked before the work (item 15)', () => {
  it('eval --out <existing file> fails at once, naming the flag', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'keep me');
    const t0 = Date.now();
    expect(await fails(['eval', '--model', model, '--benchmarks', 'math500', '--out', file])).toContain(
      `--out: ${file} is a file, not a directory`,
    );
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
  }, 60_000);
});

describe('model directories (item 16)', () => {
  it('names the flag and path for a missing dir, a file, an empty dir, and a hub id', async () => {
    const missing = join(scratch, 'no-such-model');
    for (const cmd of [
      ['generate', '--prompt', '1'],
      ['score', '--text', '1'],
      ['eval', '--out', join(scratch, 'e2')],
    ]) {
      expect(await fails([...cmd, '--model', missing])).toContain(`--model: model directory not found: ${missing}`);
    }
    const file = join(model, 'config.json');
    expect(await fails(['generate', '--prompt', '1', '--model', file])).toContain(
      `--model: ${file} is not a directory`,
    );
    const empty = join(scratch, 'empty');
    mkdirSync(empty);
    expect(await fails(['score', '--text', '1', '--model', empty])).toContain(
      `--model: model directory ${empty} is empty`,
    );
    // A hub id goes to the hub cache (test/hub.test.ts); offline and uncached, the error says so.
    const hub = await fails(['generate', '--prompt', '1', '--model', 'Qwen/Qwen3-1.7B-Base'], {
      HF_HUB_OFFLINE: '1',
      HF_HOME: join(scratch, 'hf-home'),
    });
    expect(hub).toContain(
      `--model: model directory not found: ${join(repoRoot, 'Qwen', 'Qwen3-1.7B-Base')}; as a hub id: Qwen/Qwen3-1.7B-Base@main is not in the hub cache ${join(scratch, 'hf-home', 'hub')} and HF_HUB_OFFLINE is set`,
    );
    expect(hub).toContain('gtr download Qwen/Qwen3-1.7B-Base');
  }, 60_000);
});

describe('custom graders in gtr grade (items 7, 8)', () => {
  it("the README's custom-grader example, as .ts outside an ESM package, grades right with the README's command", async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Writing a custom grader'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)![1]!;
    const cmd = /`(gtr grade --grader \.\/my-grader\.ts [^`]*)`/.exec(section)![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'gtr-readme-grader-')); // no package.json with "type": "module" above it
    try {
      writeFileSync(join(dir, 'my-grader.ts'), code);
      const args = cmd
        .replace(/^gtr /, '')
        .replace('./my-grader.ts', join(dir, 'my-grader.ts'))
        .match(/"[^"]*"|\S+/g)!
        .map((a) => a.replace(/^"|"$/g, ''));
      const { stdout } = await gtr([...args, '--json']);
      expect(JSON.parse(stdout)).toMatchObject({ score: 1, correct: true, length: 5 });
      const wrong = await gtr([...args.map((a) => (a === '4' ? '5' : a)), '--json']);
      expect(JSON.parse(wrong.stdout)).toMatchObject({ score: 0, correct: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exits non-zero when the grader module cannot load', async () => {
    for (const f of ['graders/missing.mjs', 'graders/syntax-error.mjs']) {
      expect(await fails(['grade', '--grader', fixture(f), '--gold', '1', '--response', '1'])).toMatch(
        /custom grader .*#default: cannot load module/,
      );
    }
  }, 60_000);

  it('--isolation process keeps the command alive when the grader kills its process', async () => {
    const rows = join(scratch, 'rows.jsonl');
    writeFileSync(rows, ['ok', 'kill', 'ok'].map((r) => JSON.stringify({ gold: '1', response: r })).join('\n'));
    const { stdout } = await gtr([
      'grade',
      '--input',
      rows,
      '--grader',
      fixture('graders/kills-process.mjs'),
      '--isolation',
      'process',
      '--threads',
      '1',
    ]);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.score)).toEqual([1, 0, 1]);
    expect(lines[1].error).toMatch(/grader process exited \(SIGKILL\)/);
  }, 60_000);
});
