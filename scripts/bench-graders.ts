/**
 * One-run benchmark of the graders on the same rows (the output of grader-agreement-input.ts):
 * per rewrite kind, the share each grader marks correct and how often `math` agrees with
 * `math_verify`; and the grading time per item of `math` (one worker thread) against
 * `math_verify` (one Python worker process), measured back to back after one warm-up item each.
 *
 * Prints the tables and writes them as JSON to bench/results/graders-<date>-<device>.json (items
 * per second included), so runs on different machines stay apart.
 *
 * Usage: npx tsx scripts/bench-graders.ts rows.jsonl [--limit N]
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { GraderPool } from '../src/grading/index.js';
import type { GradeItem, GradeResult } from '../src/grading/index.js';

const file = process.argv[2];
if (!file) throw new Error('usage: bench-graders.ts rows.jsonl [--limit N]');
const li = process.argv.indexOf('--limit');
const limit = li > 0 ? Number(process.argv[li + 1]) : Infinity;
const rows = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .slice(0, limit)
  .map((l) => JSON.parse(l) as Record<string, unknown>);
const items: GradeItem[] = rows.map((r) => ({ response: String(r.response), row: { ...r, gold: String(r.gold) } }));

/** Grades all items on a fresh one-worker pool; ms per item excludes start-up (one warm-up item). */
async function timed(grader: string): Promise<{ results: GradeResult[]; msPerItem: number; version: string }> {
  const pool = new GraderPool({ grader, threads: 1, timeoutMs: 30_000 });
  try {
    await pool.grade(items.slice(0, 1));
    const t0 = performance.now();
    const results = await pool.grade(items);
    return { results, msPerItem: (performance.now() - t0) / items.length, version: pool.graderId.version };
  } finally {
    await pool.destroy();
  }
}

const loadBefore = loadavg()[0]!;
const math = await timed('math');
const mv = await timed('math_verify');
const dapo = await timed('dapo');
const pct = (x: number, n: number) => (n === 0 ? '-' : `${((100 * x) / n).toFixed(1)}%`);
const kinds = [...new Set(rows.map((r) => String(r.rewrite ?? 'all')))];
const table: Record<string, unknown>[] = [];
console.log(`| rewrite | rows | math | math_verify | dapo | math = math_verify |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
for (const k of [...kinds, 'all']) {
  const idx = rows.map((r, i) => (k === 'all' || String(r.rewrite ?? 'all') === k ? i : -1)).filter((i) => i >= 0);
  const c = (res: GradeResult[]) => idx.filter((i) => res[i]!.correct).length;
  const same = idx.filter((i) => math.results[i]!.correct === mv.results[i]!.correct).length;
  table.push({
    rewrite: k,
    rows: idx.length,
    math: c(math.results) / idx.length,
    math_verify: c(mv.results) / idx.length,
    dapo: c(dapo.results) / idx.length,
    agreement_math_math_verify: same / idx.length,
  });
  console.log(
    `| ${k} | ${idx.length} | ${pct(c(math.results), idx.length)} | ${pct(c(mv.results), idx.length)} | ${pct(c(dapo.results), idx.length)} | ${pct(same, idx.length)} |`,
  );
}
const timeouts = (res: GradeResult[]) => res.filter((r) => r.timedOut).length;
console.log(
  `\nms per item (one worker each, after warm-up): math ${math.msPerItem.toFixed(3)}, math_verify ${mv.msPerItem.toFixed(3)}, dapo ${dapo.msPerItem.toFixed(3)}; math is ${(mv.msPerItem / math.msPerItem).toFixed(1)}x faster than math_verify`,
);
console.log(
  `versions: math ${math.version}; math_verify ${mv.version}; timeouts: math ${timeouts(math.results)}, math_verify ${timeouts(mv.results)}`,
);

const device = `cpu-${(cpus()[0]?.model ?? 'unknown')
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '-')
  .replace(/^-|-$/g, '')}-x${cpus().length}`;
const date = new Date().toISOString().slice(0, 10);
const out = {
  date,
  device,
  input: `${basename(file)} (rows of scripts/grader-agreement-input.ts)`,
  items: items.length,
  note: 'one worker each, after one warm-up item; items/s = 1000 / ms per item',
  load_avg_1min: { before: loadBefore, after: loadavg()[0]! },
  ms_per_item: { math: math.msPerItem, math_verify: mv.msPerItem, dapo: dapo.msPerItem },
  items_per_s: { math: 1000 / math.msPerItem, math_verify: 1000 / mv.msPerItem, dapo: 1000 / dapo.msPerItem },
  versions: { math: math.version, math_verify: mv.version, dapo: dapo.version },
  timeouts: { math: timeouts(math.results), math_verify: timeouts(mv.results), dapo: timeouts(dapo.results) },
  table,
};
mkdirSync('bench/results', { recursive: true });
const path = `bench/results/graders-${date}-${device}.json`;
writeFileSync(`${path}.tmp`, `${JSON.stringify(out, null, 2)}\n`);
renameSync(`${path}.tmp`, path);
console.log(
  `items/s: math ${(1000 / math.msPerItem).toFixed(0)}, math_verify ${(1000 / mv.msPerItem).toFixed(0)}; wrote ${path}`,
);
