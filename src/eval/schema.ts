/**
 * zod schema of the JSON report (what {@link reportToJson} writes), for reading reports back,
 * e.g. for `gtr eval compare a.json b.json`.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { EvalReport } from './types.js';

const metricsSchema = z.record(z.string(), z.number());

export const benchmarkReportSchema = z.object({
  name: z.string(),
  problems: z.number().int().nonnegative(),
  n: z.number().int().positive(),
  metrics: metricsSchema,
  meanResponseTokens: z.number(),
});

export const evalReportSchema = z.object({
  model: z.string(),
  createdAt: z.string(),
  settings: z.record(z.string(), z.unknown()),
  benchmarks: z.array(benchmarkReportSchema),
  macro: metricsSchema,
});

/**
 * Validates parsed JSON as an {@link EvalReport}.
 * @param source a label (usually the file path) for error messages.
 * @throws Error naming the source and the offending field path.
 */
export function parseEvalReport(value: unknown, source = 'report'): EvalReport {
  const r = evalReportSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const at = issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new Error(`${source}: invalid eval report at ${at}: ${issue.message}`);
  }
  return r.data as EvalReport;
}

/**
 * Reads and validates a JSON report: a report.json file, or a `gtr eval --out` directory holding one.
 * @throws Error naming the file on a missing file, bad JSON or schema.
 */
export async function loadEvalReport(pathIn: string): Promise<EvalReport> {
  // A `gtr eval --out DIR` directory stands for the report.json inside it.
  const isDir = await stat(pathIn).then(
    (st) => st.isDirectory(),
    () => false,
  );
  const path = isDir ? join(pathIn, 'report.json') : pathIn;
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT')
      throw new Error(
        isDir
          ? `${pathIn} holds no report.json (give a \`gtr eval --out\` directory or its report.json)`
          : `${path}: no such file`,
      );
    throw new Error(`${path}: ${e.message}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseEvalReport(value, path);
}
