/**
 * `gtr report <run-dir> [<run-dir> ...] [--out FILE] [--title TEXT]`: a self-contained HTML report
 * of training runs (src/run/report.ts), several runs overlaid on the same plots (e.g. a GTR
 * and a GRPO run). Default output: <run-dir>/report.html for one run, ./report.html for several.
 */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { writeRunReport } from '../../run/report.js';

export function register(program: Command): void {
  program
    .command('report')
    .description('write an offline HTML report (plots, evaluation, samples) of one or more training runs')
    .argument('<run-dirs...>', 'gtr train run directories (each holds metrics.jsonl)')
    .option('--out <file>', 'output HTML file (default: <run-dir>/report.html for one run, ./report.html for several)')
    .option('--title <text>', 'report title')
    .action((dirs: string[], o: { out?: string; title?: string }) => {
      const out = resolve(o.out ?? (dirs.length === 1 ? join(dirs[0], 'report.html') : 'report.html'));
      writeRunReport(dirs, out, o.title);
      console.log(`wrote ${out}`);
    });
}
