/**
 * Process isolation for graders (`reward.isolation: process`, `gtr grade --isolation process`): each
 * lane is a forked Node process (./process-worker.ts) that grades one item at a time. Unlike a worker
 * thread, a child process has its own heap, `process` object and native state: a grader that calls
 * process.exit or process.abort, crashes in native code, or exhausts its heap (capped with
 * --max-old-space-size) ends only its child, which is replaced. It does not sandbox the file system
 * or network: an untrusted grader can still read and write what the user can.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GradeResult } from './types.js';
import type { GradeTask } from './worker.js';
import { setActiveTimeout, type ActiveTimeout } from './active-timeout.js';

/** Settings of {@link ProcessLanes}. */
export interface ProcessLaneOptions {
  /** Per-item limit in ms, counted from when the child starts the item. */
  timeoutMs: number;
  /** Extra ms a child may take to start (load Node, tsx, the compute engine) before it counts. */
  startupTimeoutMs: number;
  /** V8 old-generation heap cap of each child in MiB (--max-old-space-size). */
  maxMemoryMb: number;
}

/** Why an item failed: `timedOut` when the clock ran out (the child was killed). */
export class LaneError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

const RUNNING_TS = import.meta.url.endsWith('.ts');

/** The child script and its Node flags (from sources, children need the tsx loader). */
function childSetup(maxMemoryMb: number): { filename: string; execArgv: string[] } {
  const filename = fileURLToPath(new URL(RUNNING_TS ? './process-worker.ts' : './process-worker.js', import.meta.url));
  const execArgv = [`--max-old-space-size=${maxMemoryMb}`];
  if (RUNNING_TS) execArgv.push('--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href);
  return { filename, execArgv };
}

interface ChildReply {
  id?: number;
  started?: boolean;
  result?: GradeResult;
  error?: string;
}

/**
 * A set of grader child processes. `run(task)` sends one task to an idle child (forking one when
 * none is idle) and resolves to its GradeResult; it rejects with a {@link LaneError} when the grader
 * threw (message from the child), the child died (exit code / signal named, with the heap cap), or
 * the timeout passed (the child is killed). Callers bound the concurrency (GraderPool's lanes).
 */
export class ProcessLanes {
  private readonly idle: ChildProcess[] = [];
  private readonly all = new Set<ChildProcess>();
  private nextId = 1;
  private destroyed = false;

  constructor(private readonly options: ProcessLaneOptions) {}

  private spawn(): ChildProcess {
    const { filename, execArgv } = childSetup(this.options.maxMemoryMb);
    const child = fork(filename, [], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    this.all.add(child);
    child.once('exit', () => {
      this.all.delete(child);
      const i = this.idle.indexOf(child);
      if (i >= 0) this.idle.splice(i, 1);
    });
    child.on('error', () => {}); // reported through 'exit' or the send callback
    return child;
  }

  /** Grades one task in a child process; see the class doc for how it rejects. */
  run(task: Omit<GradeTask, 'startPort'>): Promise<GradeResult> {
    if (this.destroyed) return Promise.reject(new LaneError('grader processes were shut down', false));
    const { timeoutMs, startupTimeoutMs, maxMemoryMb } = this.options;
    const child = this.idle.pop() ?? this.spawn();
    const id = this.nextId++;
    return new Promise<GradeResult>((resolve, reject) => {
      let done = false;
      let timer: ActiveTimeout;
      const finish = () => {
        done = true;
        timer.clear();
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const fail = (err: LaneError) => {
        if (done) return;
        finish();
        child.kill('SIGKILL');
        reject(err);
      };
      // Deadlines in running time: a paused process does not time its graders out (./active-timeout.ts).
      timer = setActiveTimeout(
        () => fail(new LaneError(`no grader process started within ${timeoutMs + startupTimeoutMs} ms`, true)),
        timeoutMs + startupTimeoutMs,
      );
      const onMessage = (m: ChildReply) => {
        if (m.id !== id || done) return;
        if (m.started) {
          timer.clear();
          timer = setActiveTimeout(
            () => fail(new LaneError(`grader timed out after ${timeoutMs} ms`, true)),
            timeoutMs,
          );
          return;
        }
        finish();
        if (!this.destroyed) this.idle.push(child);
        if (m.error !== undefined) reject(new LaneError(m.error, false));
        else resolve(m.result!);
      };
      const onExit = (code: number | null, signal: string | null) => {
        fail(
          new LaneError(
            `grader process exited (${signal ?? `code ${code}`}) while grading; its heap cap is ${maxMemoryMb} MB`,
            false,
          ),
        );
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ id, task }, (err) => {
        if (err) fail(new LaneError(`cannot send the item to a grader process: ${err.message}`, false));
      });
    });
  }

  /** Kills every child. Idempotent. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const exits = [...this.all].map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGKILL');
        }),
    );
    this.idle.length = 0;
    await Promise.all(exits);
  }
}
