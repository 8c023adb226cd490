/**
 * Rollout workers as separate processes (recipe `rollout.placement: separate`), the trainer's side:
 * starts `rollout.workers` processes (./rollout-worker.ts, forked with an IPC channel), each holding
 * its own policy and rollout engine; joins them in one c10d process group with the trainer (group
 * rank 0 = the trainer, rank i = worker i: gloo on CPU, NCCL when every member has a GPU of its
 * own) over which the trainer's weights are broadcast after each step (native/parallel
 * weight_sync.h: no checkpoint files). Requests and rollouts travel over the IPC channel (Node's
 * structured clone, typed arrays kept): the prompts, the sampling request and the weights version
 * each batch must be generated from are decided here, so the rollouts do not depend on timing.
 *
 * A worker that exits or is killed stops every call in flight with an Error naming it (worker
 * index, pid, exit code or signal).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { native } from '../native/binding.js';
import type { NativePolicy, NativeProcessGroup } from '../native/types.js';
import type { GeneratedResponse, GenerateRequest, RolloutStats } from '../rollout/engine.js';
import { freePort } from './launch.js';
import { shardRange } from './shard.js';

/** What a worker needs to build its policy and join the weight-sync group (the `init` message). */
export interface RolloutWorkerInit {
  /** Checkpoint directory the trainer loaded (its policy/ on resume), so shapes and LoRA match. */
  modelDir: string;
  device: string;
  dtype: 'float32' | 'bfloat16';
  /** Fresh LoRA adapters as the trainer enabled them (their values come with the first weights). */
  lora?: { spec: import('../checkpoint/index.js').LoraSpec; seed: number };
  /** The tokenizer's bytes per token id, for stop strings (sent once, not with every batch). */
  tokenBytes?: { bytes: Uint8Array; offsets: Int32Array };
  group: { masterAddr: string; masterPort: number; rank: number; worldSize: number; backend: 'gloo' | 'nccl' };
  timeoutMs: number;
}

/** Trainer -> worker messages. */
export type ToWorker =
  | { type: 'init'; init: RolloutWorkerInit }
  /** The trainer broadcasts version `version` next: post a receive (into the staging buffer). */
  | { type: 'weights'; version: number }
  /** Generate `prompts` from exactly weights version `version`. */
  | { type: 'generate'; id: number; version: number; prompts: Int32Array[]; request: GenerateRequest }
  | { type: 'stop' };

/** Worker -> trainer messages. */
export type FromWorker =
  | { type: 'ready'; pid: number; threads: number }
  | {
      type: 'result';
      id: number;
      version: number;
      rollouts: GeneratedResponse[][];
      stats?: RolloutStats;
      /** Generation wall time, and the time this batch waited for its weights to arrive (ms). */
      generateMs: number;
      waitWeightsMs: number;
      /** The receive broadcasts and staged loads since the last result (ms). */
      weightSyncMs: number;
    }
  | { type: 'error'; message: string };

/** A generated batch (the prompts of every worker, in prompt order) and the workers' timings. */
export interface WorkerBatch {
  rollouts: GeneratedResponse[][];
  stats?: RolloutStats;
  /** Longest worker's generation time and weight wait (ms); weight-sync time summed over workers. */
  generateMs: number;
  waitWeightsMs: number;
  workerSyncMs: number;
}

/** The script a worker runs: the compiled ./rollout-worker.js (dist/ also when this file runs from src/). */
function workerScript(): string {
  const here = fileURLToPath(new URL('./rollout-worker.js', import.meta.url));
  if (existsSync(here)) return here;
  const built = fileURLToPath(new URL('../../dist/parallel/rollout-worker.js', import.meta.url));
  if (existsSync(built)) return built;
  throw new Error(
    `rollout.placement: separate needs the compiled worker ${built}: run npm run build:ts (npm test does)`,
  );
}

/** 128 + signal number, as a shell reports a killed process. */
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGSEGV: 11, SIGTERM: 15, SIGABRT: 6 };

interface Worker {
  index: number;
  child: ChildProcess;
  pid: number;
  /** Calls waiting for this worker: id -> settle. */
  waiting: Map<number, { resolve: (m: Extract<FromWorker, { type: 'result' }>) => void; reject: (e: Error) => void }>;
  ready?: (m: Extract<FromWorker, { type: 'ready' }>) => void;
}

/**
 * The trainer's handle on its rollout workers. One call at a time of each kind: `generate` calls
 * are served by the workers in the order made; `publish` broadcasts the trainer's weights.
 */
export class RolloutWorkers {
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private failWith!: (e: Error) => void;
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly workers: Worker[],
    private readonly group: NativeProcessGroup,
    private readonly log: (line: string) => void,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.failWith = reject;
    });
    this.failed.catch(() => {});
  }

  /**
   * Starts `count` workers, joins the weight-sync group with them and waits until each has loaded
   * its policy. Each worker's torch threads: GTR_ROLLOUT_THREADS, else OMP_NUM_THREADS, else the
   * trainer's own count (so a worker's rollouts are bitwise those of the trainer's process).
   * @throws Error naming the worker that failed to start, or the rendezvous timeout
   */
  static async start(
    count: number,
    init: Omit<RolloutWorkerInit, 'group'>,
    log: (line: string) => void,
  ): Promise<RolloutWorkers> {
    const script = workerScript();
    const port = await freePort();
    const cuda = init.device.startsWith('cuda');
    // NCCL refuses two ranks on one GPU: with fewer devices than members, the bytes go through gloo.
    const devices = cuda ? native().versions().cudaDeviceCount : 0;
    const backend: 'gloo' | 'nccl' = cuda && devices > count && native().versions().ncclCompiled ? 'nccl' : 'gloo';
    const threads =
      process.env.GTR_ROLLOUT_THREADS ?? process.env.OMP_NUM_THREADS ?? String(native().versions().numThreads);
    const workers: Worker[] = [];
    for (let i = 1; i <= count; i++) {
      const child = fork(script, [], {
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: { ...process.env, OMP_NUM_THREADS: threads },
      });
      workers.push({ index: i, child, pid: child.pid ?? -1, waiting: new Map() });
    }
    const group = new (native().ProcessGroup)({
      rank: 0,
      worldSize: count + 1,
      masterAddr: '127.0.0.1',
      masterPort: port,
      storeServer: true,
      backend,
      timeoutMs: init.timeoutMs,
      hostname: '127.0.0.1',
      deviceIndex: cuda ? Number(init.device.split(':')[1] ?? 0) : 0,
    });
    const pool = new RolloutWorkers(workers, group, log);
    for (const w of workers) pool.watch(w);
    const readies = workers.map(
      (w) =>
        new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve) => {
          w.ready = resolve;
        }),
    );
    for (const w of workers) {
      const device = cuda ? `cuda:${backend === 'nccl' ? w.index : (init.device.split(':')[1] ?? 0)}` : init.device;
      w.child.send({
        type: 'init',
        init: {
          ...init,
          device,
          group: { masterAddr: '127.0.0.1', masterPort: port, rank: w.index, worldSize: count + 1, backend },
        },
      } satisfies ToWorker);
    }
    try {
      await Promise.race([Promise.all([group.connect(), ...readies]), pool.failed]);
    } catch (e) {
      await pool.close();
      throw e;
    }
    for (const w of workers)
      log(
        `rollout worker ${w.index} of ${count}: pid ${w.pid}, ${threads} torch thread(s), weights over ${backend} (c10d)`,
      );
    return pool;
  }

  /** Worker pids in worker order (tests, the fault messages). */
  get pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  private watch(w: Worker): void {
    w.child.on('message', (m: FromWorker) => {
      if (m.type === 'ready') w.ready?.(m);
      else if (m.type === 'result') {
        const k = w.waiting.get(m.id);
        w.waiting.delete(m.id);
        k?.resolve(m);
      } else if (m.type === 'error') this.fail(new Error(`rollout worker ${w.index} (pid ${w.pid}): ${m.message}`));
    });
    w.child.on('exit', (code, signal) => {
      if (this.closing && code === 0) return;
      const how = signal
        ? `was killed by ${signal} (exit code ${128 + (SIGNALS[signal] ?? 1)})`
        : `exited with code ${code}`;
      this.fail(
        new Error(
          `rollout worker ${w.index} (pid ${w.pid}) ${how}${this.closing ? ' while stopping' : ''}; the run stops (its last complete checkpoint stays; resume with --resume)`,
        ),
      );
    });
    w.child.on('error', (e) => this.fail(new Error(`rollout worker ${w.index} (pid ${w.pid}): ${e.message}`)));
  }

  /** The first failure wins; every call in flight is rejected with it. */
  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.failWith(e);
    for (const w of this.workers) for (const k of w.waiting.values()) k.reject(e);
    for (const w of this.workers) w.waiting.clear();
  }

  /** Rethrows a worker's failure, if any (a native error seen first is replaced by the named one). */
  private async named(e: unknown): Promise<never> {
    // A dead peer fails the collective before the exit event arrives: give the event a moment.
    if (!this.failure) await Promise.race([this.failed.catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
    throw this.failure ?? e;
  }

  /**
   * Broadcasts `policy`'s weights as version `version` to every worker (they stage them and load
   * them when a batch needs them). Resolves to the wall time in ms (packing and broadcast).
   */
  async publish(policy: NativePolicy, version: number): Promise<number> {
    if (this.failure) throw this.failure;
    for (const w of this.workers) w.child.send({ type: 'weights', version } satisfies ToWorker);
    try {
      // The trainer's whole cost: packing (on this thread) and the broadcast.
      const t = performance.now();
      await Promise.race([this.group.sendWeights(policy, version, `weights v${version}`), this.failed]);
      return performance.now() - t;
    } catch (e) {
      return this.named(e);
    }
  }

  /**
   * Samples `request.n` responses per prompt from weights version `version` (published before or
   * after this call), each worker its contiguous block of the prompts (sampling streams are per
   * global prompt index, as data-parallel ranks draw them).
   */
  async generate(version: number, prompts: Int32Array[], request: GenerateRequest): Promise<WorkerBatch> {
    if (this.failure) throw this.failure;
    const offset = request.promptIndexOffset ?? 0;
    const parts = this.workers.map((w) => {
      const sh = shardRange(prompts.length, w.index - 1, this.workers.length);
      if (sh.end <= sh.start) return undefined;
      const id = this.nextId++;
      const { tokenBytes: _, ...req } = request;
      return new Promise<Extract<FromWorker, { type: 'result' }>>((resolve, reject) => {
        w.waiting.set(id, { resolve, reject });
        w.child.send({
          type: 'generate',
          id,
          version,
          prompts: prompts.slice(sh.start, sh.end),
          request: { ...req, promptIndexOffset: offset + sh.start },
        } satisfies ToWorker);
      });
    });
    let results: (Extract<FromWorker, { type: 'result' }> | undefined)[];
    try {
      results = await Promise.all(parts);
    } catch (e) {
      return this.named(e);
    }
    const done = results.filter((r) => r !== undefined);
    return {
      rollouts: done.flatMap((r) => r.rollouts),
      stats: done[0]?.stats,
      generateMs: Math.max(0, ...done.map((r) => r.generateMs)),
      waitWeightsMs: Math.max(0, ...done.map((r) => r.waitWeightsMs)),
      workerSyncMs: done.reduce((a, r) => a + r.weightSyncMs, 0),
    };
  }

  /** Stops the workers (they exit once their current batch is done) and closes the group. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const exits = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
          w.child.once('exit', () => resolve());
          try {
            w.child.send({ type: 'stop' } satisfies ToWorker);
          } catch {
            w.child.kill('SIGKILL');
          }
        }),
    );
    const timer = setTimeout(() => {
      for (const w of this.workers)
        if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    }, 10_000);
    await Promise.all(exits);
    clearTimeout(timer);
    this.group.close();
  }
}
