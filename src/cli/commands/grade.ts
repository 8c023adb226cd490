/**
 * `gtr grade`: grade one response (`--gold`, `--response`) or a JSONL file of `{gold, response}`
 * rows (`--input`) with a registry grader (`math`, `dapo`) or a custom module (`path[#export]`).
 * Graders get the row in the shape training gives them (grading/row.ts): the gold is `row.answer`.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { parseJsonLines } from '../../data/jsonl.js';
import { GraderPool } from '../../grading/pool.js';
import { parseGraderSpec } from '../../grading/custom.js';
import { graderRow } from '../../grading/row.js';
import { compareGraders, comparisonToMarkdown } from '../../grading/compare.js';
import type { GradeItem, GradeResult } from '../../grading/types.js';

interface GradeOptions {
  gold?: string;
  response?: string;
  prompt?: string;
  input?: string;
  grader: string;
  json?: boolean;
  threads?: string;
  timeout: string;
  isolation?: string;
  maxMemoryMb?: string;
  compare?: string;
}

/**
 * Reads `{gold, response[, prompt]}` rows from a JSONL file (`answer` is accepted for `gold`).
 * Each item's row has the training shape `{ ...other fields, id, problem, answer }` (id defaults to
 * the line number, problem to the prompt), so other fields, e.g. OlympiadBench `error`, reach the
 * grader. Blank lines are skipped. Throws `<file>:<line>: ...` for invalid JSON, a non-object line,
 * or a missing field.
 */
export function readGradeRows(file: string): GradeItem[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read: ${(err as Error).message}`);
  }
  const items: GradeItem[] = [];
  for (const { line, value: row } of parseJsonLines(text, file)) {
    if (row === null || typeof row !== 'object' || Array.isArray(row))
      throw new Error(`${file}:${line}: expected a JSON object`);
    const r = row as Record<string, unknown>;
    const gold = r.gold ?? r.answer;
    if (typeof gold !== 'string' && typeof gold !== 'number')
      throw new Error(`${file}:${line}: missing string field "gold"`);
    if (typeof r.response !== 'string') throw new Error(`${file}:${line}: missing string field "response"`);
    const { gold: _g, answer: _a, response, prompt, id, problem, ...extra } = r;
    const promptText = typeof prompt === 'string' ? prompt : '';
    const shaped = graderRow({
      id: typeof id === 'string' || typeof id === 'number' ? String(id) : String(line),
      problem: typeof problem === 'string' ? problem : promptText,
      answer: String(gold),
      extra: extra as Record<string, unknown>,
    });
    items.push({ response: response as string, row: shaped, prompt: promptText });
  }
  return items;
}

/** One human-readable verdict line. */
function verdictLine(r: GradeResult): string {
  const status = r.timedOut ? 'TIMEOUT' : r.correct ? 'CORRECT' : 'WRONG';
  const extra = r.error ? `  error=${r.error}` : '';
  return `${status}  score=${r.score}  extracted=${r.extracted === null ? '(none)' : JSON.stringify(r.extracted)}${extra}`;
}

/** Parses a positive integer option or throws naming it. */
function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer (got "${value}")`);
  return n;
}

/** Runs the command; see `register`. Throws for bad options or input rows. */
export async function runGrade(opts: GradeOptions, out: (line: string) => void = (l) => console.log(l)): Promise<void> {
  if (opts.compare !== undefined) return runCompare(opts, out);
  const single = opts.gold !== undefined || opts.response !== undefined;
  if (single && opts.input !== undefined) throw new Error('use either --gold/--response or --input, not both');
  if (!single && opts.input === undefined)
    throw new Error('nothing to grade: give --gold and --response, or --input file.jsonl');
  if (single && (opts.gold === undefined || opts.response === undefined))
    throw new Error('--gold and --response go together');
  const grader = parseGraderSpec(opts.grader);
  const items: GradeItem[] = single
    ? [
        {
          response: opts.response!,
          row: graderRow({ id: '1', problem: opts.prompt ?? '', answer: opts.gold!, extra: {} }),
          prompt: opts.prompt ?? '',
        },
      ]
    : readGradeRows(opts.input!);
  const threads = opts.threads !== undefined ? positiveInt('threads', opts.threads) : single ? 1 : undefined;
  const isolation = opts.isolation ?? 'thread';
  if (isolation !== 'thread' && isolation !== 'process')
    throw new Error(`--isolation must be thread or process (got "${isolation}")`);
  const maxMemoryMb = opts.maxMemoryMb !== undefined ? positiveInt('max-memory-mb', opts.maxMemoryMb) : undefined;
  if (maxMemoryMb !== undefined && maxMemoryMb < 16)
    throw new Error(`--max-memory-mb must be at least 16 (got "${opts.maxMemoryMb}")`);
  const pool = new GraderPool({
    grader,
    threads,
    timeoutMs: positiveInt('timeout', opts.timeout),
    isolation,
    maxMemoryMb,
  });
  try {
    // A module that cannot load is an error of the command (exit 1), not a wrong verdict per row.
    await pool.check();
    const results = await pool.grade(items);
    if (single && !opts.json) out(verdictLine(results[0]!));
    else results.forEach((r, i) => out(JSON.stringify(single ? r : { line: i + 1, ...r })));
  } finally {
    await pool.destroy();
  }
}

/**
 * `--compare a,b,c`: grades every row of `--input` with each grader (one pool at a time) and prints
 * the agreement table and the disagreements (markdown; JSON with `--json`). Throws for fewer than
 * two graders, an unknown grader, or no `--input`.
 */
async function runCompare(opts: GradeOptions, out: (line: string) => void): Promise<void> {
  if (opts.input === undefined) throw new Error('--compare needs --input file.jsonl');
  const names = opts
    .compare!.split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (names.length < 2)
    throw new Error(`--compare needs at least two graders, comma-separated (got "${opts.compare}")`);
  const specs = names.map((n) => parseGraderSpec(n));
  const items = readGradeRows(opts.input);
  const threads = opts.threads !== undefined ? positiveInt('threads', opts.threads) : undefined;
  const results: Record<string, GradeResult[]> = {};
  for (let k = 0; k < names.length; k++) {
    const pool = new GraderPool({ grader: specs[k]!, threads, timeoutMs: positiveInt('timeout', opts.timeout) });
    try {
      results[names[k]!] = await pool.grade(items);
    } finally {
      await pool.destroy();
    }
  }
  const cmp = compareGraders(items, results);
  out(opts.json ? JSON.stringify(cmp) : comparisonToMarkdown(cmp));
}

/**
 * Registers `gtr grade`:
 * `gtr grade --gold G --response R [--grader math|dapo|path[#export]] [--json]` prints one verdict
 * (`CORRECT  score=1  extracted="5"`, or a JSON object with `--json`);
 * `gtr grade --input rows.jsonl [--grader ...]` prints one JSON line per row
 * (`{"line":1,"score":1,"correct":true,"extracted":"5"}`);
 * `gtr grade --input rows.jsonl --compare math,math_verify,dapo` prints the graders' pairwise
 * agreement and their disagreements.
 */
export function register(program: Command): void {
  program
    .command('grade')
    .description('grade model responses against gold answers (math / dapo / custom graders)')
    .option('--gold <answer>', 'gold answer (with --response)')
    .option('--response <text>', 'model response to grade (with --gold)')
    .option('--prompt <text>', 'prompt passed to custom graders')
    .option('--input <file.jsonl>', 'JSONL rows {gold, response[, prompt]}; one JSON verdict per line')
    .option('--grader <name|module[#export]>', 'math, dapo, math_verify, or a custom grader module path', 'math')
    .option('--json', 'print the single verdict as JSON')
    .option('--threads <n>', 'grader worker threads')
    .option('--timeout <ms>', 'per-item grading timeout in ms', '10000')
    .option(
      '--isolation <mode>',
      'thread (worker threads) or process (child processes, for untrusted graders)',
      'thread',
    )
    .option(
      '--max-memory-mb <n>',
      "memory cap of each grader worker in MiB: JS heap, or a math_verify worker's address space + 512 (default 1024)",
    )
    .option('--compare <graders>', 'with --input: comma-separated graders to compare (e.g. math,math_verify,dapo)')
    .action(async (opts: GradeOptions) => {
      await runGrade(opts);
    });
}
