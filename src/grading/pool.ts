/**
 * GraderPool: grades items on a piscina worker pool with a per-item timeout (a stuck worker is
 * terminated) and crash isolation (a throwing or dying grader only fails its own item); each
 * worker's heap is capped, and `isolation: 'process'` runs graders in child processes instead.
 */
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { customLabel } from './custom.js';
import { LaneError, ProcessLanes } from './process-lanes.js';
import { MATH_VERIFY_GRADER, MATH_VERIFY_VERSION, PythonGraderPool } from './python-pool.js';
import { getGrader } from './registry.js';
import {
  isWeighted,
  type GradeItem,
  type GradeResult,
  type GraderSpec,
  type RewardSpec,
  type WeightedPart,
} from './types.js';
import { combineWeighted } from './weighted.js';
import type { GradeTask } from './worker.js';
import { setActiveTimeout } from './active-timeout.js';

/** Pool settings. */
export interface GraderPoolOptions {
  /**
   * Registry name or custom module (default `'math'`). Relative module paths resolve against cwd.
   * `'math_verify'` runs in Python worker processes (python-pool.ts) with the same timeout rules.
   * A weighted list (`{graders: [{grader, weight}]}`) runs one pool per part (./weighted.ts).
   */
  grader?: RewardSpec;
  /** Worker threads (default min(4, available cores)). */
  threads?: number;
  /**
   * Per-item limit in ms (default 10000), counted from the moment a worker starts the item (custom
   * module loading included); past it the worker is terminated and the item is wrong.
   */
  timeoutMs?: number;
  /**
   * Extra ms an item may wait for a worker to start up before it counts as timed out
   * (default 60000); only matters when workers keep dying or start very slowly.
   */
  startupTimeoutMs?: number;
  /** Score for items that time out or fail (default: the registry grader's wrong score, else 0). */
  failureScore?: number;
  /**
   * Where graders run (default `'thread'`). `'thread'`: piscina worker threads, which share the
   * trainer's process: a grader's process.exit ends only its thread, and its heap is capped, but a
   * native crash, process.abort() or process.kill(process.pid) ends the trainer too. `'process'`:
   * forked child processes (./process-lanes.ts), for untrusted graders: any of those ends only the
   * child. Neither sandboxes the file system or network.
   */
  isolation?: 'thread' | 'process';
  /**
   * Heap cap of each worker in MiB (default 1024): the V8 old generation (piscina resourceLimits
   * maxOldGenerationSizeMb for threads, --max-old-space-size for processes); for `math_verify`, each
   * Python worker's address space (RLIMIT_AS, this plus `PYTHON_BASE_MB`). A grader past it fails
   * its item and its worker is replaced.
   */
  maxMemoryMb?: number;
}

/** Default heap cap of a grader worker, MiB. */
export const DEFAULT_GRADER_MEMORY_MB = 1024;

const RUNNING_TS = import.meta.url.endsWith('.ts');

/** Worker file and flags: from sources (.ts, vitest / tsx) workers need the tsx loader. */
function workerSetup(): { filename: string; execArgv: string[] } {
  const filename = fileURLToPath(new URL(RUNNING_TS ? './worker.ts' : './worker.js', import.meta.url));
  if (!RUNNING_TS) return { filename, execArgv: [] };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { filename, execArgv: ['--import', tsx] };
}

/** A rejection from piscina as a message; aborts are recognised by name. */
function describe(err: unknown): { message: string; aborted: boolean } {
  const e = err as { name?: string; message?: string } | null;
  return { message: e?.message ?? String(err), aborted: e?.name === 'AbortError' };
}

/**
 * A pool of grader workers. `grade(items)` resolves to one GradeResult per item, in input order,
 * and never rejects for a single item's sake: an item whose grader runs past `timeoutMs` gets
 * `{ score: failureScore, correct: false, extracted: null, timedOut: true, error }` and its worker is
 * terminated and replaced; an item whose grader throws, returns an invalid value, or kills its
 * worker gets the same without `timedOut`, with the error message. The constructor throws for an
 * unknown registry name (listing valid names) and for non-positive timeouts. The timeout clock
 * starts when a worker picks the item up, so worker start-up (compute engine, tsx) is not counted.
 */
export class GraderPool {
  private readonly pool: Piscina<GradeTask, GradeResult> | undefined;
  private readonly lanes: ProcessLanes | undefined;
  /** The `math_verify` grader runs in Python worker processes instead of piscina threads. */
  private readonly python: PythonGraderPool | undefined;
  private readonly grader: GraderSpec;
  /** The parts of a weighted reward, each in its own pool (then nothing else here is used). */
  private readonly parts: { pool: GraderPool; part: WeightedPart }[] | undefined;
  private readonly threads: number;
  private readonly timeoutMs: number;
  private readonly startupTimeoutMs: number;
  private readonly failureScore: number;
  private destroyed = false;

  constructor(options: GraderPoolOptions = {}) {
    const reward = options.grader ?? 'math';
    if (isWeighted(reward)) {
      if (reward.graders.length === 0) throw new Error('GraderPool: a weighted reward needs at least one grader');
      const parts: { pool: GraderPool; part: WeightedPart }[] = [];
      try {
        for (const part of reward.graders)
          parts.push({ pool: new GraderPool({ ...options, grader: part.grader }), part });
      } catch (e) {
        for (const p of parts) void p.pool.destroy();
        throw e;
      }
      this.parts = parts;
    }
    const spec: GraderSpec = isWeighted(reward) ? reward.graders[0]!.grader : reward;
    this.grader =
      typeof spec === 'string'
        ? spec
        : { ...spec, module: isAbsolute(spec.module) ? spec.module : resolve(spec.module) };
    const wrong = typeof spec === 'string' ? getGrader(spec).wrongScore : 0;
    this.failureScore = options.failureScore ?? wrong;
    this.threads = Math.max(1, Math.floor(options.threads ?? Math.min(4, availableParallelism())));
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    if (!(this.timeoutMs > 0)) throw new Error(`GraderPool: timeoutMs must be > 0 (got ${options.timeoutMs})`);
    if (!(this.startupTimeoutMs >= 0))
      throw new Error(`GraderPool: startupTimeoutMs must be >= 0 (got ${options.startupTimeoutMs})`);
    const maxMemoryMb = options.maxMemoryMb ?? DEFAULT_GRADER_MEMORY_MB;
    if (!(Number.isInteger(maxMemoryMb) && maxMemoryMb >= 16))
      throw new Error(`GraderPool: maxMemoryMb must be an integer >= 16 (got ${options.maxMemoryMb})`);
    if (this.parts) return; // the parts' pools do the work
    if (spec === MATH_VERIFY_GRADER) {
      // The same cap as the JS workers (reward.max_memory_mb), applied to each Python worker.
      this.python = new PythonGraderPool({
        processes: this.threads,
        timeoutMs: this.timeoutMs,
        startupTimeoutMs: this.startupTimeoutMs,
        failureScore: this.failureScore,
        maxMemoryMb,
      });
      return;
    }
    if (options.isolation === 'process') {
      this.lanes = new ProcessLanes({
        timeoutMs: this.timeoutMs,
        startupTimeoutMs: this.startupTimeoutMs,
        maxMemoryMb,
      });
      return;
    }
    if (options.isolation !== undefined && options.isolation !== 'thread')
      throw new Error(`GraderPool: isolation must be "thread" or "process" (got "${options.isolation}")`);
    const { filename, execArgv } = workerSetup();
    this.pool = new Piscina<GradeTask, GradeResult>({
      filename,
      execArgv,
      minThreads: this.threads,
      maxThreads: this.threads,
      idleTimeout: 30_000,
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb },
    });
    // Aborts race with worker exits; without a listener an 'error' event would crash the process.
    this.pool.on('error', () => {});
  }

  /**
   * Loads the grader once in a worker (a custom module is imported and its export checked to be a
   * function) and resolves when that worked. Throws `custom grader <path>#<export>: cannot load
   * module: ...` (or: no such export, not a function, the worker died, it did not load within the
   * timeouts). Registry graders always pass.
   */
  async check(): Promise<void> {
    if (this.parts) {
      for (const p of this.parts) await p.pool.check();
      return;
    }
    if (typeof this.grader === 'string') return;
    const [r] = await this.runAll([{ response: '', row: {}, prompt: '' }], true);
    if (r!.error !== undefined) {
      const label = customLabel(this.grader);
      throw new Error(r!.error.startsWith(label) ? r!.error : `${label}: ${r!.error}`);
    }
  }

  /**
   * Grades one item; never rejects. The worker reports the start of the task over a
   * MessageChannel; the `timeoutMs` clock starts then (before that, `startupTimeoutMs` more applies).
   */
  private async gradeOne(item: GradeItem, check = false, batch?: GradeTask['batch']): Promise<GradeResult> {
    const fail: GradeResult = { score: this.failureScore, correct: false, extracted: null };
    if (this.lanes) {
      try {
        return await this.lanes.run({
          grader: this.grader,
          response: item.response,
          row: item.row,
          prompt: item.prompt ?? '',
          check,
          ...(batch ? { batch } : {}),
        });
      } catch (err) {
        const timedOut = err instanceof LaneError && err.timedOut;
        return { ...fail, ...(timedOut ? { timedOut: true } : {}), error: (err as Error).message };
      }
    }
    const { port1, port2 } = new MessageChannel();
    const abort = new AbortController();
    let started = false;
    // Deadlines in running time: a paused process does not time its graders out (./active-timeout.ts).
    let timer = setActiveTimeout(() => abort.abort(), this.timeoutMs + this.startupTimeoutMs);
    port1.once('message', () => {
      started = true;
      timer.clear();
      timer = setActiveTimeout(() => abort.abort(), this.timeoutMs);
    });
    const task: GradeTask = {
      grader: this.grader,
      response: item.response,
      row: item.row,
      prompt: item.prompt ?? '',
      startPort: port2,
      check,
      ...(batch ? { batch } : {}),
    };
    try {
      return await this.pool!.run(task, { signal: abort.signal, transferList: [port2] });
    } catch (err) {
      const { message, aborted } = describe(err);
      if (!aborted) return { ...fail, error: message };
      const why = started
        ? `grader timed out after ${this.timeoutMs} ms`
        : `no grader worker started within ${this.timeoutMs + this.startupTimeoutMs} ms`;
      return { ...fail, timedOut: true, error: why };
    } finally {
      timer.clear();
      port1.close();
    }
  }

  /**
   * A batched custom grader (`batched: true`): one call for all items, in one worker, with the
   * per-item timeout for the whole call. A call that fails, times out or returns the wrong number
   * of verdicts fails every item of the batch, with the reason.
   */
  private async gradeBatch(items: readonly GradeItem[]): Promise<GradeResult[]> {
    if (items.length === 0) return [];
    const batch = items.map((it) => ({ response: it.response, row: it.row, prompt: it.prompt ?? '' }));
    const r = (await this.gradeOne({ response: '', row: {}, prompt: '' }, false, batch)) as GradeResult | GradeResult[];
    if (Array.isArray(r)) return r;
    return items.map(() => ({ ...r }));
  }

  /**
   * Which grader and rule version this pool runs, for reports: registry graders give their
   * `version`; `math_verify` gives `math-verify==X` as its workers report it (the pinned version
   * before any worker started); custom graders give their module and export.
   */
  get graderId(): { name: string; version: string } {
    if (this.parts)
      return {
        name: this.parts.map((p) => `${p.part.weight} x ${p.pool.graderId.name}`).join(' + '),
        version: this.parts.map((p) => p.pool.graderId.version).join(' + '),
      };
    const g = this.grader;
    if (typeof g !== 'string') return { name: `${g.module}#${g.export ?? 'default'}`, version: 'custom module' };
    if (this.python) return { name: g, version: `math-verify==${this.python.version || MATH_VERIFY_VERSION}` };
    return { name: g, version: getGrader(g).version };
  }

  /**
   * Grades `items` (at most `threads` in flight) and resolves to their results in input order.
   * Throws only when the pool was destroyed.
   */
  async grade(items: readonly GradeItem[]): Promise<GradeResult[]> {
    return this.runAll(items, false);
  }

  private async runAll(items: readonly GradeItem[], check: boolean): Promise<GradeResult[]> {
    if (this.destroyed) throw new Error('GraderPool: grade() called after destroy()');
    if (this.parts)
      return combineWeighted(
        this.parts.map((p) => p.part),
        await Promise.all(this.parts.map((p) => p.pool.grade(items))),
      );
    if (this.python) return this.python.grade(items);
    if (!check && typeof this.grader !== 'string' && this.grader.batched) return this.gradeBatch(items);
    const results = new Array<GradeResult>(items.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        results[i] = await this.gradeOne(items[i]!, check);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.threads, items.length) }, lane));
    return results;
  }

  /** Terminates the workers. Idempotent; `grade()` afterwards throws. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all((this.parts ?? []).map((p) => p.pool.destroy()));
    await this.python?.destroy();
    await this.pool?.destroy();
    await this.lanes?.destroy();
  }
}
