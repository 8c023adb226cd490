/**
 * PythonGraderPool: the `math_verify` grader, backed by Hugging Face's `math-verify` package, run in
 * persistent Python worker processes (src/grading/python/math_verify_worker.py, JSON lines over
 * stdin/stdout). Same contract as the TS GraderPool: a per-item timeout, crash isolation and worker
 * replacement; a hung or crashing sympy call scores its item wrong and costs one worker, never the run.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { goldAnswer } from './math-grader.js';
import type { GradeItem, GradeResult } from './types.js';
import { setActiveTimeout, type ActiveTimeout } from './active-timeout.js';

/** The registry name of the Python-backed grader. */
export const MATH_VERIFY_GRADER = 'math_verify';

/** The math-verify version setup installs and the pool is tested against. */
export const MATH_VERIFY_VERSION = '0.9.0';

/** Python pool settings. */
export interface PythonGraderPoolOptions {
  /** Worker processes (default min(4, available cores)). */
  processes?: number;
  /** Per-item limit in ms, counted from the moment a worker receives the item (default 10000). */
  timeoutMs?: number;
  /** Ms a new worker may take to import math_verify and report ready (default 60000). */
  startupTimeoutMs?: number;
  /** Score for wrong, timed-out or failed items (default 0). */
  failureScore?: number;
  /** Python executable (default `$GTR_PYTHON`, else `python3`). */
  python?: string;
  /** Worker script (default the bundled math_verify_worker.py); tests pass others. */
  script?: string;
  /**
   * Address-space cap of each worker in MiB (default none): passed as `GTR_GRADER_MAX_MEMORY_MB`,
   * which the worker applies with `resource.setrlimit(RLIMIT_AS)` before importing math_verify
   * (plus the interpreter's own footprint, `PYTHON_BASE_MB`). A grader past it fails its item
   * (MemoryError) or its worker dies and is replaced, as in the JS pool (`reward.max_memory_mb`).
   */
  maxMemoryMb?: number;
}

/**
 * Address space a Python worker needs before grading anything (interpreter, sympy, math_verify,
 * antlr), added to `maxMemoryMb`: RLIMIT_AS counts mapped memory, not the heap alone as V8's cap does.
 */
export const PYTHON_BASE_MB = 512;

/** The bundled worker script, from sources (src/grading) or the build (dist/grading). */
export function workerScript(): string {
  const here = new URL('./python/math_verify_worker.py', import.meta.url);
  const candidates = [
    fileURLToPath(here),
    fileURLToPath(new URL('../../src/grading/python/math_verify_worker.py', import.meta.url)),
  ];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

/**
 * Whether `python` can import math_verify: `{ ok: true, version }` or `{ ok: false, reason }` (a
 * message saying what is missing and how to install it). Synchronous; takes about a second.
 */
export function mathVerifyAvailable(
  python = process.env.GTR_PYTHON ?? 'python3',
): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(
    python,
    ['-c', 'from importlib.metadata import version; import math_verify; print(version("math-verify"))'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.error)
    return {
      ok: false,
      reason: `${python} not found (${r.error.message}); the math_verify grader needs Python 3 with math-verify==${MATH_VERIFY_VERSION}`,
    };
  if (r.status !== 0)
    return {
      ok: false,
      reason: `${python} cannot import math_verify; install it with: ${python} -m pip install math-verify==${MATH_VERIFY_VERSION}`,
    };
  return { ok: true, version: r.stdout.trim() };
}

interface Pending {
  resolve: (r: GradeResult) => void;
  timer: ActiveTimeout;
}

/** One Python process; `busy` while it holds an item. */
class Worker {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly ready: Promise<string>;
  pending: Pending | null = null;
  /** Killed or exited: never handed another item. */
  dead = false;
  exited = false;
  stderr = '';

  constructor(
    python: string,
    script: string,
    startupTimeoutMs: number,
    maxMemoryMb: number | undefined,
    onDeath: (w: Worker, why: string) => void,
  ) {
    const env = { ...process.env };
    if (maxMemoryMb !== undefined) env.GTR_GRADER_MAX_MEMORY_MB = String(maxMemoryMb + PYTHON_BASE_MB);
    this.proc = spawn(python, ['-u', script], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const lines = createInterface({ input: this.proc.stdout });
    let readyResolve!: (v: string) => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<string>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {});
    const startTimer = setTimeout(() => {
      readyReject(new Error(`math_verify worker did not start within ${startupTimeoutMs} ms`));
      this.kill();
    }, startupTimeoutMs);
    let started = false;
    lines.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // stray output from a library; not a protocol line
      }
      if (!started) {
        started = true;
        clearTimeout(startTimer);
        if (msg.ready === true) readyResolve(String(msg.version ?? ''));
        else readyReject(new Error(String(msg.error ?? 'math_verify worker failed to start')));
        return;
      }
      const p = this.pending;
      if (!p) return;
      this.pending = null;
      p.timer.clear();
      if (typeof msg.error === 'string') p.resolve({ score: 0, correct: false, extracted: null, error: msg.error });
      else {
        const correct = msg.correct === true;
        p.resolve({
          score: correct ? 1 : 0,
          correct,
          extracted: typeof msg.extracted === 'string' ? msg.extracted : null,
        });
      }
    });
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.proc.stdin.on('error', () => {});
    this.proc.on('exit', (code, signal) => {
      this.dead = true;
      this.exited = true;
      clearTimeout(startTimer);
      const why = `math_verify worker exited (${signal ?? `code ${code}`})${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-1)[0]}` : ''}`;
      readyReject(new Error(why));
      onDeath(this, why);
    });
    this.proc.on('error', (err) => {
      // A process that never started emits no 'exit'.
      clearTimeout(startTimer);
      readyReject(new Error(`cannot start ${python}: ${err.message}`));
      if (!this.dead) {
        this.dead = true;
        onDeath(this, `cannot start ${python}: ${err.message}`);
      }
    });
  }

  kill(): void {
    this.dead = true;
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

/**
 * A pool of `math_verify` worker processes. `grade(items)` resolves to one GradeResult per item,
 * in input order, and never rejects for an item's sake: an item past `timeoutMs` gets
 * `{ score: failureScore, correct: false, extracted: null, timedOut: true, error }` and its worker is
 * killed and replaced; an item whose worker crashes gets the same without `timedOut`. Gold answers
 * come from `row.gold` / `row.answer` (`goldAnswer`). Workers start lazily on the first `grade()`;
 * if none can start (no Python, no math_verify) `grade()` rejects with the reason.
 */
export class PythonGraderPool {
  private readonly processes: number;
  private readonly timeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly failureScore: number;
  private readonly python: string;
  private readonly script: string;
  private readonly maxMemoryMb: number | undefined;
  private idle: Worker[] = [];
  private all = new Set<Worker>();
  private destroyed = false;
  /** Workers replaced after a timeout or crash (for tests and logs). */
  replaced = 0;
  /** The math-verify version the workers reported (empty before the first start). */
  version = '';

  constructor(options: PythonGraderPoolOptions = {}) {
    this.processes = Math.max(1, Math.floor(options.processes ?? Math.min(4, availableParallelism())));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    this.failureScore = options.failureScore ?? 0;
    this.python = options.python ?? process.env.GTR_PYTHON ?? 'python3';
    this.script = options.script ?? workerScript();
    this.maxMemoryMb = options.maxMemoryMb;
    if (this.maxMemoryMb !== undefined && !(Number.isInteger(this.maxMemoryMb) && this.maxMemoryMb >= 16))
      throw new Error(`PythonGraderPool: maxMemoryMb must be an integer >= 16 (got ${options.maxMemoryMb})`);
    if (!(this.timeoutMs > 0)) throw new Error(`PythonGraderPool: timeoutMs must be > 0 (got ${options.timeoutMs})`);
  }

  private spawnWorker(): Worker {
    const w = new Worker(this.python, this.script, this.startupTimeoutMs, this.maxMemoryMb, (dead, why) => {
      this.all.delete(dead);
      this.idle = this.idle.filter((x) => x !== dead);
      const p = dead.pending;
      if (p) {
        dead.pending = null;
        p.timer.clear();
        p.resolve({ score: this.failureScore, correct: false, extracted: null, error: why });
      }
    });
    this.all.add(w);
    return w;
  }

  /** A ready worker (a fresh one when none is idle); rejects when a new worker cannot start. */
  private async acquire(): Promise<Worker> {
    for (;;) {
      const w = this.idle.pop();
      if (w && !w.dead) return w;
      if (!w) break;
    }
    const w = this.spawnWorker();
    this.version = await w.ready;
    return w;
  }

  /** Sends one item to a worker; resolves with its verdict, a timeout, or a crash. */
  private async gradeOne(item: GradeItem): Promise<GradeResult> {
    const w = await this.acquire();
    let gold: string;
    try {
      gold = goldAnswer(item.row);
    } catch (err) {
      this.idle.push(w);
      return { score: this.failureScore, correct: false, extracted: null, error: (err as Error).message };
    }
    const result = await new Promise<GradeResult>((resolve) => {
      // Running time: a paused process does not time its graders out (./active-timeout.ts).
      const timer = setActiveTimeout(() => {
        w.pending = null;
        w.kill();
        this.replaced++;
        resolve({
          score: this.failureScore,
          correct: false,
          extracted: null,
          timedOut: true,
          error: `grader timed out after ${this.timeoutMs} ms`,
        });
      }, this.timeoutMs);
      w.pending = { resolve, timer };
      w.proc.stdin.write(`${JSON.stringify({ id: 0, gold, response: item.response })}\n`);
    });
    if (!w.dead) this.idle.push(w);
    else if (!result.timedOut) this.replaced++;
    return result.correct ? result : { ...result, score: this.failureScore };
  }

  /**
   * Grades `items` (at most `processes` in flight) and resolves to their results in input order.
   * Rejects when the pool was destroyed or no worker can start (the message says why).
   */
  async grade(items: readonly GradeItem[]): Promise<GradeResult[]> {
    if (this.destroyed) throw new Error('PythonGraderPool: grade() called after destroy()');
    const results = new Array<GradeResult>(items.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        results[i] = await this.gradeOne(items[i]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.processes, items.length) }, lane));
    return results;
  }

  /** Kills the workers. Idempotent; `grade()` afterwards throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const exits = [...this.all].map(
      (w) =>
        new Promise<void>((res) => {
          if (w.exited || w.proc.exitCode !== null || w.proc.pid === undefined) return res();
          w.proc.once('exit', () => res());
          w.proc.stdin.end();
          setTimeout(() => w.kill(), 2000).unref();
          setTimeout(res, 5000).unref();
        }),
    );
    await Promise.all(exits);
  }
}
