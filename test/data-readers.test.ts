import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { describe, expect, it } from 'vitest';
import { datasetNames, getDatasetEntry, lastBoxed, loadDataset, readJsonl, readParquet } from '../src/data/index.js';
import type { RowIssue } from '../src/data/index.js';

import { dataDir, fullData } from './helpers/paths.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const excerptDir = join(repoRoot, 'test', 'fixtures', 'datasets');
const fixtures = join(repoRoot, 'test', 'fixtures', 'data');
const quiet = () => {};

describe('dataset registry', () => {
  it('lists the seven datasets with their roles', () => {
    expect(datasetNames()).toEqual([
      'dapo-math-17k',
      'math500',
      'olympiadbench',
      'minerva',
      'amc23',
      'aime24',
      'aime25',
    ]);
    expect(datasetNames('train')).toEqual(['dapo-math-17k']);
    expect(getDatasetEntry('math500').remote).toMatchObject({ kind: 'hf', repo: 'HuggingFaceH4/MATH-500' });
    expect(getDatasetEntry('dapo-math-17k').remote).toMatchObject({
      kind: 'hf',
      repo: 'BytedTsinghua-SIA/DAPO-Math-17k',
      format: 'parquet',
    });
  });

  it('rejects an unknown name, listing the valid ones', () => {
    expect(() => getDatasetEntry('gsm8k')).toThrow(
      /unknown dataset "gsm8k"; valid datasets: dapo-math-17k, math500, .*aime25/,
    );
    return expect(loadDataset('nope', { dataDir })).rejects.toThrow(/valid datasets/);
  });
});

describe('local copies (excerpts in test/fixtures/datasets; full row counts when GTR_DATA_DIR is set)', () => {
  // Full copies: the counts of SOURCES.md and datasets/manifest.json. Excerpts: the first rows.
  const counts: Record<string, [full: number, excerpt: number]> = {
    math500: [500, 40],
    olympiadbench: [675, 20],
    minerva: [272, 40],
    amc23: [40, 20],
    aime24: [30, 10],
    aime25: [30, 10],
    'dapo-math-17k': [17290, 200],
  };
  for (const [name, [full, excerpt]] of Object.entries(counts)) {
    const n = fullData ? full : excerpt;
    it(`${name} has ${n} usable rows and none skipped`, async () => {
      const d = await loadDataset(name, { dataDir, onIssue: quiet });
      expect(d.rows).toHaveLength(n);
      expect(d.skipped).toBe(0);
      expect(getDatasetEntry(name).local.rows).toBe(full);
      for (const r of d.rows) {
        expect(typeof r.id).toBe('string');
        expect(r.problem.trim()).not.toBe('');
        expect(r.answer.trim()).not.toBe('');
      }
      expect(new Set(d.rows.map((r) => r.id)).size).toBe(n);
    });
  }

  it.runIf(fullData)('each shipped excerpt is a prefix of the full copy (whole lines)', () => {
    for (const name of Object.keys(counts)) {
      const file = getDatasetEntry(name).local.file;
      const ex = readFileSync(join(excerptDir, file), 'utf8');
      expect(readFileSync(join(dataDir, file), 'utf8').startsWith(ex), file).toBe(true);
    }
  });

  it('keeps source fields in extra', async () => {
    const ob = await loadDataset('olympiadbench', { dataDir });
    expect(ob.rows[0]!.extra).toHaveProperty('answer_type');
    expect(ob.rows[0]!.extra).toHaveProperty('unit');
    expect(ob.rows[0]!.extra).toHaveProperty('final_answer');
    // The one row with a numeric tolerance is row 317, past the excerpt.
    const withError = ob.rows.filter((r) => r.extra.error !== null && r.extra.error !== undefined);
    expect(withError).toHaveLength(fullData ? 1 : 0);
    const mv = await loadDataset('minerva', { dataDir });
    for (const r of mv.rows) expect(lastBoxed(r.extra.solution as string)).toBe(r.answer);
    const m5 = await loadDataset('math500', { dataDir });
    expect(m5.rows[0]).toMatchObject({
      id: 'test/precalculus/807.json',
      answer: '\\left( 3, \\frac{\\pi}{2} \\right)',
    });
    const a24 = await loadDataset('aime24', { dataDir });
    expect(a24.rows.some((r) => r.answer.startsWith('0'))).toBe(true); // leading zeros kept
  });

  it('dapo: dropConflicts removes the conflicting rows; limit applies after', async () => {
    // 11 conflicting rows in the full copy; the excerpt's first 200 rows hold one of them (dapo-00035).
    const all = await loadDataset('dapo-math-17k', { dataDir });
    const conflicts = fullData ? 11 : 1;
    expect(all.rows.filter((r) => r.extra.answer_conflict === true)).toHaveLength(conflicts);
    expect(all.rows.find((r) => r.id === 'dapo-00035')?.extra.conflicting_answers).toEqual(['64', '6']);
    const kept = await loadDataset('dapo-math-17k', { dataDir, dropConflicts: true });
    expect(kept.rows).toHaveLength(all.rows.length - conflicts);
    expect(kept.droppedConflicts).toBe(conflicts);
    const few = await loadDataset('dapo-math-17k', { dataDir, dropConflicts: true, limit: 5 });
    expect(few.rows.map((r) => r.id)).toEqual(kept.rows.slice(0, 5).map((r) => r.id));
  });

  it('names the missing file when the data dir lacks it', async () => {
    await expect(loadDataset('math500', { dataDir: fixtures })).rejects.toThrow(/math500\.jsonl does not exist/);
  });
});

describe('JSONL reader', () => {
  it('reports bad rows with file:line, skips and counts them', async () => {
    const file = join(fixtures, 'bad-rows.jsonl');
    const seen: RowIssue[] = [];
    const res = await readJsonl(file, { onIssue: (i) => seen.push(i), idPrefix: 'fx' });
    expect(res.rows.map((r) => r.id)).toEqual(['ok-1', 'ok-2', 'fx-6']);
    expect(res.rows[0]!.extra).toEqual({ note: 'kept' });
    expect(res.rows[1]!.answer).toBe('6'); // numbers become strings
    expect(res.positions).toEqual([1, 5, 8]);
    expect(res.skipped).toBe(4);
    expect(seen).toEqual(res.issues);
    expect(res.issues.map((i) => i.position)).toEqual([2, 3, 6, 7]);
    expect(res.issues[0]!.message).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: invalid JSON`),
    );
    expect(res.issues[1]!.message).toBe(`${file}:3: missing "answer" (from "answer")`);
    expect(res.issues[2]!.message).toBe(`${file}:6: empty "problem" (from "problem")`);
    expect(res.issues[3]!.message).toBe(`${file}:7: expected a JSON object, got a list`);
  });

  it('throws naming the file when no row is usable', async () => {
    const file = join(fixtures, 'all-bad.jsonl');
    await expect(readJsonl(file)).rejects.toThrow(`${file}: no usable rows (3 bad row(s) skipped)`);
  });

  it('throws on an empty file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gtr-data-')), 'empty.jsonl');
    writeFileSync(file, '\n\n');
    await expect(readJsonl(file)).rejects.toThrow(/no usable rows \(0 bad/);
  });
});

describe('parquet reader', () => {
  it('reads rows, maps nested fields and reports bad rows by index', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gtr-data-')), 'small.parquet');
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'id', data: ['p0', 'p1', 'p2', 'p3'] },
        { name: 'problem', data: ['What is 1+1?', '', 'What is 2+2?', 'What is 3+3?'] },
        { name: 'answer', data: ['2', '5', '4', null] },
        { name: 'meta', data: [{ level: 1 }, { level: 2 }, { level: 3 }, { level: 4 }] },
        { name: 'big', data: [1n, 2n, 3n, 4n], type: 'INT64' },
      ],
    });
    writeFileSync(file, new Uint8Array(buf));
    const issues: RowIssue[] = [];
    const res = await readParquet(file, { onIssue: (i) => issues.push(i) });
    expect(res.rows.map((r) => [r.id, r.answer])).toEqual([
      ['p0', '2'],
      ['p2', '4'],
    ]);
    expect(res.rows[1]!.extra).toEqual({ meta: { level: 3 }, big: 3 });
    expect(res.positions).toEqual([0, 2]);
    expect(issues.map((i) => i.message)).toEqual([
      `${file}: row 1: empty "problem" (from "problem")`,
      `${file}: row 3: missing "answer" (from "answer")`,
    ]);
  });

  it('throws naming the file when it is not parquet', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gtr-data-')), 'bogus.parquet');
    writeFileSync(file, 'definitely not parquet');
    await expect(readParquet(file)).rejects.toThrow(`${file}: cannot read parquet`);
  });
});
