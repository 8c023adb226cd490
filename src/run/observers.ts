/**
 * What watches a run besides metrics.jsonl: TensorBoard event files (recipe `run.tensorboard`) and
 * the HTML report <run.dir>/report.html (recipe `run.report`), refreshed after every step. The loop
 * hands every metrics row to {@link RunObservers.metrics} and calls {@link RunObservers.refresh}
 * when a step's logs are complete.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMetricsJsonl } from '../report/html.js';
import { writeRunReport } from './report.js';
import { TENSORBOARD_DIR, TensorBoardWriter } from '../report/tensorboard.js';
import { METRICS_FILE } from './dir.js';

/** The report file the loop keeps up to date in the run directory. */
export const REPORT_FILE = 'report.html';

export class RunObservers {
  private readonly tb?: TensorBoardWriter;
  private reportFailed = false;

  /**
   * Opens the sinks for a run directory. The TensorBoard history is rewritten from metrics.jsonl
   * (already truncated to the resumed step), so a resumed run shows each step once.
   */
  constructor(
    private readonly dir: string,
    private readonly opts: { tensorboard: boolean; report: boolean; log: (line: string) => void },
  ) {
    if (opts.tensorboard) {
      this.tb = new TensorBoardWriter(join(dir, TENSORBOARD_DIR), { replaceExisting: true });
      const mf = join(dir, METRICS_FILE);
      if (existsSync(mf)) for (const row of readMetricsJsonl(mf)) this.tb.write(row);
    }
  }

  /** Forwards one metrics row (already appended to metrics.jsonl) to TensorBoard. */
  metrics(row: Record<string, unknown>): void {
    this.tb?.write(row);
  }

  /**
   * Rewrites report.html from the run directory's logs. A failure is logged once and does not stop
   * training (the logs it reads are intact; `gtr report` can redo it).
   */
  refresh(): void {
    if (!this.opts.report) return;
    try {
      writeRunReport([this.dir], join(this.dir, REPORT_FILE));
    } catch (e) {
      if (!this.reportFailed)
        this.opts.log(`warning: could not write ${join(this.dir, REPORT_FILE)}: ${(e as Error).message}`);
      this.reportFailed = true;
    }
  }
}
