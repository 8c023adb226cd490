/**
 * Agreement between graders on the same items (`gtr grade --input f.jsonl --compare a,b,c`): each
 * grader's accuracy, the pairwise agreement of their verdicts, and the items they disagree on.
 */
import type { GradeItem, GradeResult } from './types.js';

/** One item two or more graders disagree on. */
export interface Disagreement {
  /** 1-based line of the item in the input file. */
  line: number;
  gold: string;
  /** The response's last 160 characters. */
  responseTail: string;
  /** Per grader: its verdict, extracted answer, and error / timeout when there was one. */
  verdicts: Record<string, { correct: boolean; extracted: string | null; error?: string }>;
}

/** The comparison of graders over the same items. */
export interface GraderComparison {
  graders: string[];
  items: number;
  /** Fraction of items each grader marks correct. */
  accuracy: Record<string, number>;
  /** agreement[a][b]: fraction of items where a and b give the same verdict (1 on the diagonal). */
  agreement: Record<string, Record<string, number>>;
  /** Items where not all graders agree, in input order. */
  disagreements: Disagreement[];
}

/**
 * Compares the verdicts `results[g][i]` of each grader `g` on `items[i]`. Throws when a grader's
 * result count differs from the item count.
 */
export function compareGraders(
  items: readonly GradeItem[],
  results: Record<string, readonly GradeResult[]>,
): GraderComparison {
  const graders = Object.keys(results);
  for (const g of graders) {
    if (results[g]!.length !== items.length)
      throw new Error(`grader ${g}: ${results[g]!.length} results for ${items.length} items`);
  }
  const n = items.length;
  const accuracy: Record<string, number> = {};
  const agreement: Record<string, Record<string, number>> = {};
  for (const a of graders) {
    accuracy[a] = n === 0 ? 0 : results[a]!.filter((r) => r.correct).length / n;
    agreement[a] = {};
    for (const b of graders) {
      let same = 0;
      for (let i = 0; i < n; i++) if (results[a]![i]!.correct === results[b]![i]!.correct) same++;
      agreement[a]![b] = n === 0 ? 1 : same / n;
    }
  }
  const disagreements: Disagreement[] = [];
  items.forEach((item, i) => {
    const verdicts = graders.map((g) => results[g]![i]!.correct);
    if (verdicts.every((v) => v === verdicts[0])) return;
    disagreements.push({
      line: i + 1,
      gold: String(item.row.gold ?? item.row.answer ?? ''),
      responseTail: item.response.slice(-160),
      verdicts: Object.fromEntries(
        graders.map((g) => {
          const r = results[g]![i]!;
          return [g, { correct: r.correct, extracted: r.extracted, ...(r.error ? { error: r.error } : {}) }];
        }),
      ),
    });
  });
  return { graders, items: n, accuracy, agreement, disagreements };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * The comparison as markdown: an accuracy line, the pairwise agreement table, and up to
 * `maxListed` disagreements (gold, each grader's verdict and extracted answer).
 */
export function comparisonToMarkdown(c: GraderComparison, maxListed = 50): string {
  const out: string[] = [];
  out.push(`${c.items} items; marked correct: ${c.graders.map((g) => `${g} ${pct(c.accuracy[g]!)}`).join(', ')}`, '');
  out.push(`| agreement | ${c.graders.join(' | ')} |`, `|---|${c.graders.map(() => '---:').join('|')}|`);
  for (const a of c.graders) out.push(`| ${a} | ${c.graders.map((b) => pct(c.agreement[a]![b]!)).join(' | ')} |`);
  out.push(
    '',
    `${c.disagreements.length} disagreements${c.disagreements.length > maxListed ? ` (first ${maxListed} listed)` : ''}:`,
  );
  for (const d of c.disagreements.slice(0, maxListed)) {
    const v = c.graders.map((g) => {
      const x = d.verdicts[g]!;
      return `${g}=${x.correct ? 'CORRECT' : 'WRONG'}${x.extracted !== null ? ` (${JSON.stringify(x.extracted)})` : ''}${x.error ? ` [${x.error}]` : ''}`;
    });
    out.push(`- line ${d.line}: gold ${JSON.stringify(d.gold)}: ${v.join(', ')}`);
  }
  return out.join('\n');
}
