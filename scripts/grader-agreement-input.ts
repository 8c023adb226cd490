/**
 * Writes the input of the README's grader agreement table: the gold answers of MATH-500,
 * OlympiadBench, Minerva and AMC 2023 rewritten as model responses would state them, one JSONL row
 * `{gold, response, rewrite, benchmark[, error]}` per (problem, rewrite). Rewrites that keep the
 * answer: the gold boxed; boxed with `\dfrac`, no `\left`/`\right` and no spaces; a simple
 * fraction as a 6-significant-digit decimal; Minerva's closing sentence; DAPO's `Answer:` line.
 * Rewrites that change it: the last digit perturbed; `\pm 1` appended.
 *
 * Usage: npx tsx scripts/grader-agreement-input.ts [DATA_DIR] > rows.jsonl
 *        node bin/gtr.js grade --input rows.jsonl --compare math,math_verify,dapo
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dataDir =
  process.argv[2] ?? process.env.GTR_DATA_DIR ?? join(import.meta.dirname, '..', '..', 'shared', 'datasets');
const BENCHMARKS = ['math500', 'olympiadbench', 'minerva', 'amc23'];

/** The rewrites of one gold answer: [name, response]. */
function rewrites(gold: string): [string, string][] {
  const box = (s: string) => `Reasoning omitted.\n\nTherefore, the final answer is $\\boxed{${s}}$.`;
  const out: [string, string][] = [
    ['boxed', box(gold)],
    [
      'boxed-restyled',
      box(
        gold
          .replace(/\\frac/g, '\\dfrac')
          .replace(/\\left|\\right/g, '')
          .replace(/\s+/g, ''),
      ),
    ],
    ['minerva', `Reasoning omitted.\nFinal Answer: The final answer is $${gold}$. I hope it is correct.`],
    ['answer-line', `Reasoning omitted.\nAnswer: ${gold}`],
  ];
  const frac = /^(-?)\\d?frac\{(\d+)\}\{(\d+)\}$/.exec(gold.trim());
  if (frac) out.push(['decimal', box(`${frac[1]}${Number((Number(frac[2]) / Number(frac[3])).toPrecision(6))}`)]);
  const digits = [...gold.matchAll(/\d/g)];
  const last = digits[digits.length - 1];
  if (last) {
    const d = String((Number(last[0]) + 1) % 10);
    out.push(['WRONG-last-digit', box(gold.slice(0, last.index) + d + gold.slice(last.index! + 1))]);
  }
  out.push(['WRONG-pm', box(`${gold} \\pm 1`)]);
  return out;
}

for (const b of BENCHMARKS) {
  const lines = readFileSync(join(dataDir, `${b}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  for (const line of lines) {
    const row = JSON.parse(line) as Record<string, unknown>;
    const gold = String(row.answer);
    for (const [rewrite, response] of rewrites(gold)) {
      const out: Record<string, unknown> = { benchmark: b, rewrite, gold, response };
      if (row.error !== undefined && row.error !== null) out.error = row.error;
      process.stdout.write(`${JSON.stringify(out)}\n`);
    }
  }
}
