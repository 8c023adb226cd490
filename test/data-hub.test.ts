// Dataset downloads against a local stand-in of the Hugging Face hub: the cache, field mappings,
// DAPO dedupe, errors naming the URL, and `gtr data fetch` / `gtr data list` (--data-dir, GTR_DATA_DIR).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cachePath,
  DAPO_PREFIX,
  DAPO_SUFFIX,
  downloadHfFile,
  fetchDatasets,
  getDatasetEntry,
  rowToJson,
  loadDataset,
} from '../src/data/index.js';
import { cliPath, fixturesDir } from './helpers/paths.js';
import { startHubStandIn, type HubStandIn } from './helpers/hub-stand-in.js';

const run = promisify(execFile);
// These tests read the hub stand-in, never a data dir from the environment.
delete process.env.GTR_DATA_DIR;

// The files the hub stand-in (./helpers/hub-stand-in.ts) serves: @huggingface/hub 2.x requests
// GET {hubUrl}/datasets/{repo}/resolve/{revision}/{path}, first with `Range: bytes=0-0` (size from
// Content-Range, ETag required), then the whole file.
const files = new Map<string, Buffer>();
let requests: string[] = [];
let hub: HubStandIn;
let base: string;

const math500Jsonl = [
  {
    problem: 'What is $2+3$?',
    solution: 'It is $\\boxed{5}$.',
    answer: '5',
    subject: 'Algebra',
    level: 1,
    unique_id: 'test/algebra/1.json',
  },
  {
    problem: 'Compute $\\sqrt{16}$.',
    solution: '$\\boxed{4}$',
    answer: '4',
    subject: 'Algebra',
    level: 1,
    unique_id: 'test/algebra/2.json',
  },
  { problem: 'broken row', solution: '', subject: 'Algebra', level: 1, unique_id: 'test/algebra/3.json' },
]
  .map((r) => JSON.stringify(r))
  .join('\n');

const dapoRow = (problem: string, answer: string, uuid: string) => ({
  data_source: 'math_dapo',
  prompt: [{ role: 'user', content: DAPO_PREFIX + problem + DAPO_SUFFIX }],
  ability: 'MATH',
  reward_model: { ground_truth: answer, style: 'rule-lighteval/MATH_v2' },
  extra_info: { index: uuid },
});
const dapoRows = [
  dapoRow('Find $x$ if $x+1=3$.', '2', 'u0'),
  dapoRow('How many primes are below 10?', '4', 'u1'),
  dapoRow('Find $x$ if $x+1=3$.', '2', 'u2'), // duplicate, same answer
  dapoRow('How many primes are below 10?', '5', 'u3'), // duplicate, conflicting answer
  { ...dapoRow('x', '1', 'u4'), prompt: [{ role: 'user', content: 'no template here' }] }, // bad row
];
const dapoParquet = Buffer.from(
  parquetWriteBuffer({
    columnData: (['data_source', 'prompt', 'ability', 'reward_model', 'extra_info'] as const).map((name) => ({
      name,
      data: dapoRows.map((r) => r[name]),
    })),
  }),
);

beforeAll(async () => {
  files.set('/datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl', Buffer.from(math500Jsonl));
  files.set('/datasets/BytedTsinghua-SIA/DAPO-Math-17k/resolve/main/data/dapo-math-17k.parquet', dapoParquet);
  files.set(
    '/QwenLM/Qwen2.5-Math/a45202bd16f1ec06f433442dc1152d0074773465/evaluation/data/amc23/test.jsonl',
    Buffer.from(
      [
        '{"id": 0, "question": "Q zero?", "answer": 27.0, "url": "u"}',
        '{"id": 1, "question": "Q one?", "answer": 3.0, "url": "v"}',
      ].join('\n'),
    ),
  );
  hub = await startHubStandIn(files);
  base = hub.base;
  requests = hub.requests;
});

afterAll(() => hub.close());

describe('hub downloads (local stand-in server)', () => {
  it('downloads a JSONL dataset file into the cache, maps it, then reuses the cache', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    requests.length = 0;
    const issues: string[] = [];
    const d = await loadDataset('math500', { hubUrl: base, cacheDir, onIssue: (i) => issues.push(i.message) });
    expect(requests).toContain('GET /datasets/HuggingFaceH4/MATH-500/resolve/main/test.jsonl bytes=0-0');
    expect(d.file).toBe(cachePath(getDatasetEntry('math500').remote, cacheDir));
    expect(d.file).toBe(join(cacheDir, 'hf', 'HuggingFaceH4', 'MATH-500', 'main', 'test.jsonl'));
    expect(d.rows).toEqual([
      {
        id: 'test/algebra/1.json',
        problem: 'What is $2+3$?',
        answer: '5',
        extra: {
          solution: 'It is $\\boxed{5}$.',
          subject: 'Algebra',
          level: 1,
          unique_id: 'test/algebra/1.json',
          source: 'MATH-500',
        },
      },
      {
        id: 'test/algebra/2.json',
        problem: 'Compute $\\sqrt{16}$.',
        answer: '4',
        extra: {
          solution: '$\\boxed{4}$',
          subject: 'Algebra',
          level: 1,
          unique_id: 'test/algebra/2.json',
          source: 'MATH-500',
        },
      },
    ]);
    expect(issues).toEqual([`${d.file}:3: missing "answer" (from "answer")`]);

    requests.length = 0;
    const again = await loadDataset('math500', { hubUrl: base, cacheDir, onIssue: () => {} });
    expect(requests).toEqual([]);
    expect(again.rows).toHaveLength(2);
  });

  it('downloads the DAPO parquet, strips the template and deduplicates with conflicts', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    const issues: string[] = [];
    const d = await loadDataset('dapo-math-17k', { hubUrl: base, cacheDir, onIssue: (i) => issues.push(i.message) });
    expect(issues).toEqual([`${d.file}: row 4: "problem" (from "prompt.0.content") does not match the DAPO template`]);
    expect(d.rows.map((r) => [r.id, r.problem, r.answer])).toEqual([
      ['dapo-u0', 'Find $x$ if $x+1=3$.', '2'],
      ['dapo-u1', 'How many primes are below 10?', '4'],
    ]);
    expect(d.rows[0]!.extra).toMatchObject({
      source_rows: [0, 2],
      answer_conflict: false,
      data_source: 'math_dapo',
      source: 'BytedTsinghua-SIA/DAPO-Math-17k',
    });
    expect(d.rows[1]!.extra).toMatchObject({
      source_rows: [1, 3],
      answer_conflict: true,
      conflicting_answers: ['4', '5'],
    });
    const kept = await loadDataset('dapo-math-17k', { hubUrl: base, cacheDir, dropConflicts: true, onIssue: () => {} });
    expect(kept.rows.map((r) => r.id)).toEqual(['dapo-u0']);
  });

  it('a file the hub does not have is an error naming the URL', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    await expect(loadDataset('aime25', { hubUrl: base, cacheDir, fetch: redirectTo(base) })).rejects.toThrow(
      /aime25\/test\.jsonl failed: HTTP 404/,
    );
    await expect(
      downloadHfFile(
        {
          kind: 'hf',
          repo: 'someone/missing',
          revision: 'main',
          path: 'x.jsonl',
          format: 'jsonl',
          mapping: { problem: { from: 'p' }, answer: { from: 'a' } },
        },
        { hubUrl: base, cacheDir },
      ),
    ).rejects.toThrow(
      `download of ${base}/datasets/someone/missing/resolve/main/x.jsonl failed: the hub has no such file`,
    );
    expect(existsSync(join(cacheDir, 'hf', 'someone'))).toBe(false);
  });

  it('url sources (commit-pinned Qwen2.5-Math files) download and map', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    const d = await loadDataset('amc23', { cacheDir, fetch: redirectTo(base) });
    expect(d.rows).toEqual([
      {
        id: 'amc23-0',
        problem: 'Q zero?',
        answer: '27',
        extra: { answer_raw: 27, url: 'u', source_id: 0, source: 'AMC 2023' },
      },
      {
        id: 'amc23-1',
        problem: 'Q one?',
        answer: '3',
        extra: { answer_raw: 3, url: 'v', source_id: 1, source: 'AMC 2023' },
      },
    ]);
  });
});

/** A fetch that sends raw.githubusercontent.com requests to the local server. */
function redirectTo(local: string): typeof fetch {
  return (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return fetch(url.replace('https://raw.githubusercontent.com', local), init);
  };
}

describe('gtr data fetch (against the hub stand-in)', () => {
  it('downloads into --cache-dir, writes JSONL copies into --data-dir that --data-dir then reads', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    const dataDir = join(mkdtempSync(join(tmpdir(), 'gtr-data-')), 'copies');
    const { stdout } = await run(
      process.execPath,
      [
        cliPath,
        'data',
        'fetch',
        'math500',
        'dapo-math-17k',
        '--hub-url',
        base,
        '--cache-dir',
        cacheDir,
        '--data-dir',
        dataDir,
      ],
      { env: { ...process.env, GTR_DATA_DIR: '' } },
    );
    expect(stdout).toMatch(/^math500: 2 rows \(1 skipped\)/m);
    expect(stdout).toMatch(/^dapo-math-17k: 2 rows \(1 skipped\)/m);
    expect(existsSync(cachePath(getDatasetEntry('math500').remote, cacheDir))).toBe(true);
    const fromHub = await loadDataset('math500', { hubUrl: base, cacheDir, onIssue: () => {} });
    const fromCopy = await loadDataset('math500', { dataDir });
    expect(fromCopy.rows).toEqual(fromHub.rows);
    const dapo = await loadDataset('dapo-math-17k', { dataDir });
    expect(dapo.rows.map((r) => [r.problem, r.answer, r.extra.answer_conflict])).toEqual([
      ['Find $x$ if $x+1=3$.', '2', false],
      ['How many primes are below 10?', '4', true],
    ]);
    // GTR_DATA_DIR is honoured by loadDataset (no dataDir given) and by `gtr data fetch` / `list`.
    process.env.GTR_DATA_DIR = dataDir;
    try {
      expect((await loadDataset('math500')).rows).toEqual(fromHub.rows);
    } finally {
      delete process.env.GTR_DATA_DIR;
    }
    const envDir = join(mkdtempSync(join(tmpdir(), 'gtr-data-')), 'env');
    await run(process.execPath, [cliPath, 'data', 'fetch', 'math500', '--hub-url', base, '--cache-dir', cacheDir], {
      env: { ...process.env, GTR_DATA_DIR: envDir },
    });
    expect(readFileSync(join(envDir, 'math500.jsonl'), 'utf8')).toBe(
      readFileSync(join(dataDir, 'math500.jsonl'), 'utf8'),
    );
    const list = await run(process.execPath, [cliPath, 'data', 'list', '--cache-dir', cacheDir], {
      env: { ...process.env, GTR_DATA_DIR: envDir },
    });
    expect(list.stdout).toMatch(new RegExp(`^math500 .* 500 rows  data dir: ${envDir}/math500.jsonl, cached$`, 'm'));
    expect(list.stdout).toMatch(/^aime25 .* not fetched$/m);
  });

  it('an unknown name fails before any download, listing the valid names; a dead hub names the fix', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gtr-cache-'));
    await expect(fetchDatasets(['math500', 'gsm8k'], { hubUrl: base, cacheDir })).rejects.toThrow(
      /unknown dataset "gsm8k"; valid datasets: dapo-math-17k/,
    );
    expect(existsSync(join(cacheDir, 'hf'))).toBe(false);
    const err = await run(
      process.execPath,
      [cliPath, 'data', 'fetch', 'math500', '--hub-url', 'http://127.0.0.1:9', '--cache-dir', cacheDir],
      { env: { ...process.env, GTR_DATA_DIR: '' } },
    ).catch((e: { stderr: string; code: number }) => e);
    expect((err as { code: number }).code).toBe(1);
    expect((err as { stderr: string }).stderr).toMatch(
      /^gtr: dataset "math500": download of http:\/\/127\.0\.0\.1:9\/datasets\/HuggingFaceH4\/MATH-500\/resolve\/main\/test\.jsonl failed: .*`gtr data fetch math500`/,
    );
  });

  it("the shipped excerpts are in the layout fetch writes (each row round-trips through the writer's format)", async () => {
    for (const name of ['math500', 'dapo-math-17k', 'olympiadbench']) {
      const file = join(fixturesDir, 'datasets', getDatasetEntry(name).local.file);
      const d = await loadDataset(name, { dataDir: join(fixturesDir, 'datasets') });
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(d.rows.map((r) => JSON.parse(rowToJson(r)))).toEqual(lines.map((l) => JSON.parse(l)));
    }
  });
});
