/**
 * Report writers: JSON report, markdown table, per-problem JSONL, and a helper writing all three.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/save.js';
import { defaultAnswerKey, problemMajority, type AnswerKey } from './aggregate.js';
import type { BenchmarkReport, EvalReport, ProblemResult } from './types.js';

/** Markdown formatting of metric values. */
export interface FormatOptions {
  /** Show fractions as percentages (default true: 0.4567 -> "45.7"). */
  percent?: boolean;
  /** Digits after the decimal point (default 1 for percentages, 4 for fractions). */
  digits?: number;
}

/** Formats one metric value for a markdown cell; null/undefined -> "—". */
export function formatMetric(v: number | null | undefined, opts: FormatOptions = {}): string {
  if (v === null || v === undefined) return '—';
  const percent = opts.percent ?? true;
  const digits = opts.digits ?? (percent ? 1 : 4);
  return (percent ? v * 100 : v).toFixed(digits);
}

/** Escapes a markdown table cell (pipes and newlines). */
export function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Metric names across reports, in order of first appearance. */
export function metricColumns(benchmarks: readonly { metrics: Record<string, number> }[]): string[] {
  const cols: string[] = [];
  for (const b of benchmarks) for (const m of Object.keys(b.metrics)) if (!cols.includes(m)) cols.push(m);
  return cols;
}

/**
 * The JSON report: exactly the {@link EvalReport} fields (extra properties, such as the per-problem
 * results `evaluate()` attaches, are dropped), pretty-printed, newline-terminated.
 */
export function reportToJson(report: EvalReport): string {
  const clean: EvalReport = {
    model: report.model,
    createdAt: report.createdAt,
    settings: report.settings,
    benchmarks: report.benchmarks.map((b: BenchmarkReport) => ({
      name: b.name,
      problems: b.problems,
      n: b.n,
      metrics: b.metrics,
      meanResponseTokens: b.meanResponseTokens,
    })),
    macro: report.macro,
  };
  return JSON.stringify(clean, null, 2) + '\n';
}

/**
 * Markdown: a heading line with model and date, then one row per benchmark (problems, n, every
 * metric, mean response tokens) and a final `**macro**` row with the macro average.
 * Values are percentages with 1 decimal unless {@link FormatOptions} say otherwise.
 */
export function reportToMarkdown(report: EvalReport, opts: FormatOptions = {}): string {
  const cols = metricColumns(report.benchmarks);
  const lines: string[] = [];
  lines.push(
    `## Evaluation: ${mdCell(report.model)}`,
    '',
    `Created ${report.createdAt}.${graderNote(report.settings.grader)}`,
    '',
  );
  lines.push(`| benchmark | problems | n | ${cols.join(' | ')} | mean tokens |`);
  lines.push(`| --- | ---: | ---: | ${cols.map(() => '---:').join(' | ')} | ---: |`);
  for (const b of report.benchmarks) {
    const cells = cols.map((c) => formatMetric(b.metrics[c], opts));
    lines.push(
      `| ${mdCell(b.name)} | ${b.problems} | ${b.n} | ${cells.join(' | ')} | ${b.meanResponseTokens.toFixed(1)} |`,
    );
  }
  if (report.benchmarks.length > 0) {
    const cells = cols.map((c) => formatMetric(report.macro[c], opts));
    const tok = report.benchmarks.reduce((s, b) => s + b.meanResponseTokens, 0) / report.benchmarks.length;
    lines.push(`| **macro** | | | ${cells.join(' | ')} | ${tok.toFixed(1)} |`);
  }
  return lines.join('\n') + '\n';
}

/** ` Graded by NAME (VERSION).` when the report records its grader (`settings.grader`), else empty. */
function graderNote(g: unknown): string {
  const r = g as { name?: unknown; version?: unknown } | undefined;
  return r && typeof r.name === 'string'
    ? ` Graded by ${mdCell(r.name)}${typeof r.version === 'string' ? ` (${mdCell(r.version)})` : ''}.`
    : '';
}

/** One line of the per-problem JSONL (see {@link problemsToJsonl}). */
export interface ProblemRecord {
  benchmark: string;
  id: string;
  problem: string;
  gold: string;
  n: number;
  correct: number;
  /** Winning canonical answer of the majority vote over all samples, or null. */
  majorityAnswer: string | null;
  majorityCorrect: boolean;
  samples: {
    text: string;
    extracted: string | null;
    correct: boolean;
    score: number;
    finishReason: string;
    tokens: number;
  }[];
}

/** Builds the JSONL record of one problem (problem, gold, every sample's text, extracted answer, verdict). */
export function problemRecord(
  benchmark: string,
  p: ProblemResult,
  answerKey: AnswerKey = defaultAnswerKey,
): ProblemRecord {
  const maj = problemMajority(p, answerKey);
  return {
    benchmark,
    id: p.id,
    problem: p.problem,
    gold: p.gold,
    n: p.samples.length,
    correct: p.samples.filter((s) => s.correct).length,
    majorityAnswer: maj.key,
    majorityCorrect: maj.correct,
    samples: p.samples.map((s) => ({
      text: s.text,
      extracted: s.extracted,
      correct: s.correct,
      score: s.score,
      finishReason: s.finishReason,
      tokens: s.tokens,
    })),
  };
}

/** Per-problem JSONL: one {@link ProblemRecord} per line, newline-terminated ('' for no problems). */
export function problemsToJsonl(benchmark: string, problems: readonly ProblemResult[], answerKey?: AnswerKey): string {
  return problems.map((p) => JSON.stringify(problemRecord(benchmark, p, answerKey)) + '\n').join('');
}

/** File-name-safe form of a benchmark name (anything outside [A-Za-z0-9._-] becomes '_'). */
export function safeFileName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? '_' : s;
}

/**
 * Writes `report.json`, `report.md` and, for each benchmark with results, `<benchmark>.jsonl`
 * into `dir` (created if missing). Each file is written atomically (src/checkpoint/save.ts).
 * @returns the paths written.
 */
export async function writeEvalOutputs(
  dir: string,
  report: EvalReport,
  results: Readonly<Record<string, readonly ProblemResult[]>> = {},
  options: { answerKey?: AnswerKey; format?: FormatOptions } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  const jsonPath = join(dir, 'report.json');
  await writeFileAtomic(jsonPath, reportToJson(report));
  written.push(jsonPath);
  const mdPath = join(dir, 'report.md');
  await writeFileAtomic(mdPath, reportToMarkdown(report, options.format));
  written.push(mdPath);
  const files = new Map<string, string>();
  for (const name of Object.keys(results)) {
    const f = `${safeFileName(name)}.jsonl`;
    const other = files.get(f);
    if (other !== undefined) throw new Error(`benchmarks '${other}' and '${name}' would both be written to ${f}`);
    files.set(f, name);
  }
  for (const [name, problems] of Object.entries(results)) {
    const p = join(dir, `${safeFileName(name)}.jsonl`);
    await writeFileAtomic(p, problemsToJsonl(name, problems, options.answerKey));
    written.push(p);
  }
  return written;
}
