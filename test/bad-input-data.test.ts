// Issue 19 items 11, 15, 16 (data, recipe and template side): non-UTF-8 datasets, a group of one,
// a looping chat template, a missing or directory data.train, strict numeric flags.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { readJsonl, decodeUtf8Strict } from '../src/data/jsonl.js';
import { loadDataset } from '../src/data/load.js';
import { parseRecipe } from '../src/recipe/index.js';
import { checkDataFile, preflightTraining } from '../src/run/preflight.js';
import { ChatTemplate } from '../src/tokenizer/index.js';
import { intFlag, numberFlag, seedFlag } from '../src/cli/flags.js';
import {
  checkContextLength,
  checkModelFitsMemory,
  qwen3ParameterCount,
  parseQwen3Config,
  presetConfig,
} from '../src/checkpoint/index.js';

const fixture = (f: string) => fileURLToPath(new URL(`./fixtures/bad-input/${f}`, import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'gtr-bad-data-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('datasets', () => {
  it('refuses non-UTF-8 bytes, naming the file and line (the old reader put U+FFFD into the problem)', async () => {
    const file = fixture('non-utf8.jsonl');
    await expect(readJsonl(file)).rejects.toThrow(`${file}:3: not valid UTF-8 (byte 0xe9 at byte 25 of the line)`);
    await expect(loadDataset(file)).rejects.toThrow(/non-utf8\.jsonl:3: not valid UTF-8/);
  });

  it('names a Parquet file (or a compressed one) given a .jsonl name, instead of calling it bad UTF-8', async () => {
    // Issue 32: it was reported as "not valid UTF-8 ... re-encode the file as UTF-8".
    const file = join(scratch, 'really-parquet.jsonl');
    writeFileSync(
      file,
      Buffer.from(
        parquetWriteBuffer({
          columnData: [
            { name: 'problem', data: ['1+1?'], type: 'STRING' },
            { name: 'answer', data: ['2'], type: 'STRING' },
          ],
        }),
      ),
    );
    await expect(loadDataset(file)).rejects.toThrow(
      `${file}: a Parquet file (it starts with PAR1): name it .parquet, not JSON lines`,
    );
    const gz = join(scratch, 'zipped.jsonl');
    writeFileSync(gz, gzipSync('{"problem":"p","answer":"1"}\n'));
    await expect(readJsonl(gz)).rejects.toThrow(`${gz}: gzip-compressed (gunzip it first), not JSON lines`);
  });

  it('decodes valid UTF-8 (multi-byte, BOM dropped) unchanged', () => {
    const text = '{"problem":"café π","answer":"√2"}\n';
    expect(decodeUtf8Strict(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 'x')).toBe(text);
  });

  it('still reads CRLF files and skips blank lines', async () => {
    const file = join(scratch, 'crlf.jsonl');
    writeFileSync(file, '{"id":"a","problem":"p","answer":"1"}\r\n\r\n{"id":"b","problem":"q","answer":"2"}\r\n');
    const r = await readJsonl(file);
    expect(r.rows.map((x) => x.answer)).toEqual(['1', '2']);
    expect(r.positions).toEqual([1, 3]);
  });

  it('names data.train and the path when it is missing or a directory', async () => {
    const missing = join(scratch, 'nope.jsonl');
    expect(() => checkDataFile(missing, 'data.train')).toThrow(`data.train: ${missing} does not exist`);
    const dir = join(scratch, 'dir.jsonl');
    mkdirSync(dir);
    expect(() => checkDataFile(dir, 'data.train')).toThrow(
      `data.train: ${dir} is a directory, not a .jsonl / .parquet file`,
    );
    await expect(loadDataset(dir)).rejects.toThrow(`dataset file ${resolve(dir)} is a directory`);
    await expect(loadDataset(missing)).rejects.toThrow(`dataset file ${resolve(missing)} does not exist`);
  });
});

describe('recipes', () => {
  it('refuses samples_per_prompt: 1 (every group advantage would be 0), naming the line', () => {
    expect(() => parseRecipe('rollout:\n  samples_per_prompt: 1\n', 'r.yaml')).toThrow(
      /r\.yaml:2: rollout\.samples_per_prompt: must be at least 2: every advantage estimator/,
    );
    expect(parseRecipe('rollout:\n  samples_per_prompt: 2\n', 'r.yaml').rollout.samples_per_prompt).toBe(2);
  });

  it('refuses rollout.temperature: 0 (identical responses: every advantage 0), naming the line', () => {
    // Issue 32: temperature 0 with samples_per_prompt 8 trained on zero advantages without a word.
    expect(() => parseRecipe('rollout:\n  samples_per_prompt: 8\n  temperature: 0\n', 'r.yaml')).toThrow(
      /r\.yaml:3: rollout\.temperature: must be above 0: at 0 \(greedy\) the samples_per_prompt responses/,
    );
    expect(parseRecipe('rollout:\n  temperature: 0.6\neval:\n  temperature: 0\n', 'r.yaml').eval.temperature).toBe(0);
  });

  it('has reward.isolation and reward.max_memory_mb with thread / 1024 defaults', () => {
    const r = parseRecipe('', 'r.yaml');
    expect([r.reward.isolation, r.reward.max_memory_mb]).toEqual(['thread', 1024]);
    expect(() => parseRecipe('reward:\n  isolation: vm\n', 'r.yaml')).toThrow(/reward\.isolation/);
  });
});

describe('chat templates', () => {
  it('bounds rendering time: a template looping for hours fails after the timeout, naming the template', () => {
    const t = new ChatTemplate(readFileSync(fixture('looping-chat-template.jinja'), 'utf8'), {}, { timeoutMs: 300 });
    const t0 = Date.now();
    expect(() => t.render([{ role: 'user', content: 'x' }])).toThrow(
      /chat template: rendering did not finish within 300 ms/,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
    // the same object still renders a normal template afterwards
    const ok = new ChatTemplate('{{ messages[0].content }}!', {}, { timeoutMs: 300 });
    expect(ok.render([{ role: 'user', content: 'hi' }])).toBe('hi!');
  });
});

describe('flags and ranges', () => {
  it('rejects non-integer and out-of-range numeric flags, naming the flag', () => {
    expect(() => seedFlag()('xyz')).toThrow('--seed must be an integer >= 0, got "xyz"');
    expect(() => seedFlag()('')).toThrow('--seed');
    expect(() => intFlag('--n', { min: 1 })('2.5')).toThrow('--n must be an integer >= 1, got "2.5"');
    expect(() => intFlag('--n', { min: 1 })('0')).toThrow('--n must be an integer >= 1');
    expect(intFlag('--max-new-tokens', { min: 1 })('1e3')).toBe(1000);
    expect(() => numberFlag('--top-p', { min: 0, max: 1 })('1.5')).toThrow(
      '--top-p must be a number in [0, 1], got "1.5"',
    );
    expect(() => numberFlag('--temperature', { min: 0 })('NaN')).toThrow('--temperature');
    expect(seedFlag()('42')).toBe(42);
  });

  it('checks context length naming the prompt, the flag and the limit', () => {
    const names = { prompt: '--prompt', maxNewTokens: '--max-new-tokens', limit: 'm/config.json' };
    expect(() => checkContextLength(10, 4086, 4096, names)).not.toThrow();
    expect(() => checkContextLength(10, 4087, 4096, names)).toThrow(
      "--prompt is 10 tokens + --max-new-tokens 4087 = 4097, past the model's context of 4096 tokens (max_position_embeddings in m/config.json)",
    );
    expect(() => checkContextLength(10, 1e9, 4096, names)).toThrow(
      /^--max-new-tokens 1000000000 does not fit the model's context of 4096 tokens/,
    );
    expect(() => checkContextLength(5000, 0, 4096, names)).toThrow(
      /^--prompt is 5000 tokens, past the model's context/,
    );
  });

  it('the memory check before training counts the trainer state, not only the weights (issue 32)', async () => {
    // A model whose fp32 weights take half this machine's memory: loading it fits, training it
    // (weights + 16 bytes per parameter of trainer state) does not.
    const dir = join(scratch, 'half-memory-model');
    mkdirSync(dir);
    const tiny = presetConfig('tiny');
    const vocab = Math.ceil(totalmem() / 2 / 4 / (tiny.hidden_size as number));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...tiny, vocab_size: vocab, tie_word_embeddings: true }));
    const cfg = parseQwen3Config(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
    expect(() => checkModelFitsMemory(cfg.native, 'float32', 'cpu', 'config.json')).not.toThrow(); // loading fits
    const recipe = parseRecipe(
      `model:\n  path: ${dir}\n  dtype: float32\n  device: cpu\ndata:\n  max_prompt_tokens: 16\nrollout:\n  max_new_tokens: 16\n`,
      'r.yaml',
    );
    await expect(preflightTraining(recipe)).rejects.toThrow(
      new RegExp(
        `${dir}/config\\.json: a model of .* parameters needs [\\d.]+ GB: [\\d.]+ GB of weights in float32 plus [\\d.]+ GB of trainer state \\(fp32 master, gradient, AdamW moments: 16 bytes per parameter\\), more than this machine's`,
      ),
    );
  });

  it('rejects vocab_size past int32 and counts parameters like transformers', () => {
    expect(() => parseQwen3Config({ ...presetConfig('tiny'), vocab_size: 1e12 }, 'c.json')).toThrow(
      /^c\.json: field vocab_size: must be below 2\^31/,
    );
    // The native model's own counts: `gtr init-model` printed 9,798,016 for tiny and (README)
    // 1,720,574,976 for qwen3-1.7b (tied embeddings counted once).
    expect(qwen3ParameterCount(parseQwen3Config(presetConfig('tiny'), 'c').native)).toBe(9798016);
    expect(qwen3ParameterCount(parseQwen3Config(presetConfig('qwen3-1.7b'), 'c').native)).toBe(1720574976);
  });
});
