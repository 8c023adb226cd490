/**
 * The run directory of `gtr train`: resolved.yaml (the recipe after defaults and overrides),
 * metrics.jsonl (one line per step), samples.jsonl (a few decoded responses per step),
 * checkpoints/step-N/ (policy in the HF layout + trainer state + loop state), and latest (a text
 * file naming the newest complete checkpoint). A directory that already holds a run is never
 * overwritten: starting fresh there is an error unless --resume is given.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RECIPE_FILE = 'resolved.yaml';
export const METRICS_FILE = 'metrics.jsonl';
export const SAMPLES_FILE = 'samples.jsonl';
export const LATEST_FILE = 'latest';

export class RunDir {
  constructor(readonly dir: string) {}

  /** True when a run was started here (its resolved recipe exists). */
  holdsRun(): boolean {
    return existsSync(join(this.dir, RECIPE_FILE));
  }

  /**
   * Prepares the directory for a fresh run.
   * @throws Error when it already holds a run (naming --resume and the directory).
   */
  startFresh(): void {
    if (this.holdsRun()) {
      throw new Error(`${this.dir} already holds a run (${RECIPE_FILE} exists): pass --resume to continue it, or choose another run.dir`);
    }
    mkdirSync(join(this.dir, 'checkpoints'), { recursive: true });
  }

  appendMetrics(row: Record<string, unknown>): void {
    appendFileSync(join(this.dir, METRICS_FILE), `${JSON.stringify(row)}\n`);
  }

  appendSamples(rows: Record<string, unknown>[]): void {
    if (rows.length === 0) return;
    appendFileSync(join(this.dir, SAMPLES_FILE), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  /** Path of the checkpoint directory for a step. */
  checkpointDir(step: number): string {
    return join(this.dir, 'checkpoints', `step-${String(step).padStart(6, '0')}`);
  }

  /** Marks a fully written checkpoint as the latest (atomic rename of a small file). */
  markLatest(step: number): void {
    const tmp = join(this.dir, `${LATEST_FILE}.tmp`);
    writeFileSync(tmp, `${this.checkpointDir(step)}\n`);
    renameSync(tmp, join(this.dir, LATEST_FILE));
  }

  /** The newest complete checkpoint directory, or undefined. */
  latest(): string | undefined {
    const f = join(this.dir, LATEST_FILE);
    if (!existsSync(f)) return undefined;
    const p = readFileSync(f, 'utf8').trim();
    return existsSync(p) ? p : undefined;
  }

  /** Deletes all but the `keep` newest checkpoints (never the latest). */
  prune(keep: number): void {
    const root = join(this.dir, 'checkpoints');
    if (!existsSync(root)) return;
    const latest = this.latest();
    const dirs = readdirSync(root).filter((d) => /^step-\d+$/.test(d)).sort();
    for (const d of dirs.slice(0, Math.max(0, dirs.length - keep))) {
      const p = join(root, d);
      if (p !== latest) rmSync(p, { recursive: true, force: true });
    }
  }

  /** Truncates metrics / samples logs to the rows of steps <= `step` (after a resume). */
  truncateLogsAfter(step: number): void {
    for (const name of [METRICS_FILE, SAMPLES_FILE]) {
      const f = join(this.dir, name);
      if (!existsSync(f)) continue;
      const kept = readFileSync(f, 'utf8').split('\n').filter((l) => {
        if (!l.trim()) return false;
        try {
          return (JSON.parse(l) as { step?: number }).step! <= step;
        } catch {
          return false;
        }
      });
      writeFileSync(f, kept.length ? kept.join('\n') + '\n' : '');
    }
  }
}
