/**
 * The rank context every data-parallel hook goes through: this rank's place and the collectives of
 * the native process group (native/parallel: gloo on CPU, NCCL on CUDA). A single process gets
 * `DistContext.single()`, whose collectives are identities, so the loop's code is the same.
 */
import { native } from '../native/binding.js';
import type { NativeProcessGroup } from '../native/types.js';
import type { DistEnv } from './env.js';

export class DistContext {
  private constructor(
    readonly rank: number,
    readonly worldSize: number,
    readonly localRank: number,
    /** The native group (undefined in a single process). */
    readonly group: NativeProcessGroup | undefined,
  ) {}

  /** A single, non-distributed process. */
  static single(): DistContext {
    return new DistContext(0, 1, 0, undefined);
  }

  /**
   * Joins the job `env` describes: the rendezvous store, then the backend ('gloo' for CPU, 'nccl'
   * for CUDA devices). Resolves once every rank joined. The join runs off the JS thread, so signal
   * handlers run meanwhile; `signal` (the command's SIGINT / SIGTERM) and the timeout
   * (GTR_DIST_TIMEOUT_S) end the wait even when MASTER_PORT is served by something that accepts
   * connections but never answers (the native join cannot be cancelled then: the caller exits).
   * @throws Error naming the rank and the store address when a rank does not join in time, or how to
   *   install the backend when the addon was built without it; an AbortError when `signal` fired
   */
  static async join(env: DistEnv, device: string, signal?: AbortSignal): Promise<DistContext> {
    if (env.worldSize === 1) return new DistContext(0, 1, env.localRank, undefined);
    const cuda = device.startsWith('cuda');
    if (cuda && !native().versions().ncclCompiled)
      throw new Error(
        `--nproc-per-node on CUDA needs NCCL, and this addon was built without it (no CUDA, or no nccl.h at ` +
          `build time): install torch's NCCL package (pip install nvidia-nccl-cu13 for a CUDA 13 torch) and ` +
          `rebuild with npm run build:native, or train on CPU (model.device: cpu)`,
      );
    const loopback = /^(127\.|localhost$|::1$)/.test(env.masterAddr);
    const group = new (native().ProcessGroup)({
      rank: env.rank,
      worldSize: env.worldSize,
      masterAddr: env.masterAddr,
      masterPort: env.masterPort,
      storeServer: env.storeServer,
      backend: cuda ? 'nccl' : 'gloo',
      timeoutMs: env.timeoutMs,
      iface: process.env.GLOO_SOCKET_IFNAME ?? '',
      hostname: loopback ? '127.0.0.1' : '',
      deviceIndex: env.localRank,
    });
    const where = `${env.masterAddr}:${env.masterPort}`;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        group.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `rank ${env.rank}: no rendezvous with the ${env.worldSize} ranks at ${where} (MASTER_ADDR / MASTER_PORT) within GTR_DIST_TIMEOUT_S = ${env.timeoutMs / 1000} s: ` +
                    `${env.storeServer ? 'this rank serves the store; are the other ranks started?' : 'is rank 0 (or the launcher) serving the store there, and is MASTER_PORT free of other services?'}`,
                ),
              ),
            env.timeoutMs,
          );
        }),
        new Promise<never>((_, reject) => {
          onAbort = () => {
            const e = new Error(`rank ${env.rank}: interrupted while waiting for the rendezvous at ${where}`);
            e.name = 'AbortError';
            reject(e);
          };
          if (signal?.aborted) onAbort();
          else signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return new DistContext(env.rank, env.worldSize, env.localRank, group);
  }

  /** Rank 0: the one that writes metrics, samples, reports and checkpoints. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  get distributed(): boolean {
    return this.group !== undefined;
  }

  /** Element-wise sum over ranks (a copy; the input is left as it was). */
  async sum(values: number[] | Float64Array, label: string): Promise<Float64Array> {
    const a = Float64Array.from(values);
    return this.group ? this.group.allReduceSum(a, label) : a;
  }

  /** Every rank's values concatenated in rank order (bitwise each rank's numbers). */
  async gather(values: number[] | Float64Array, label: string): Promise<Float64Array> {
    const a = Float64Array.from(values);
    return this.group ? this.group.allGather(a, label) : a;
  }

  /** Every rank's `count` per rank. */
  async counts(n: number, label: string): Promise<number[]> {
    return Array.from(await this.gather([n], label));
  }

  /** Rank `root`'s JSON value on every rank (others pass anything; undefined travels as null). */
  async broadcastJson<T>(value: T, label: string, root = 0): Promise<T> {
    if (!this.group) return value;
    const isRoot = this.rank === root;
    const mine = isRoot ? new TextEncoder().encode(JSON.stringify(value ?? null)) : new Uint8Array(0);
    const [len] = await this.group.allReduceSum(Float64Array.of(isRoot ? mine.length : 0), `${label} (size)`);
    const buf = isRoot ? mine : new Uint8Array(len);
    await this.group.broadcast(buf, root, label);
    return JSON.parse(new TextDecoder().decode(buf)) as T;
  }

  /** Every rank's JSON value, in rank order, on every rank (one broadcast per rank). */
  async gatherJson<T>(value: T, label: string): Promise<T[]> {
    if (!this.group) return [value];
    const out: T[] = [];
    for (let r = 0; r < this.worldSize; r++) out.push(await this.broadcastJson(value, `${label} (from rank ${r})`, r));
    return out;
  }

  async barrier(label: string): Promise<void> {
    if (this.group) await this.group.barrier(label);
  }

  /** Whether any rank says yes (e.g. a signal arrived on one rank): every rank gets the same answer. */
  async any(flag: boolean, label: string): Promise<boolean> {
    if (!this.group) return flag;
    return (await this.sum([flag ? 1 : 0], label))[0] > 0;
  }

  close(): void {
    this.group?.close();
  }
}
