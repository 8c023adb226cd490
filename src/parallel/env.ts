/**
 * The rank's place in a data-parallel job, read from the environment torchrun (and `gtr
 * --nproc-per-node`) sets: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
 * (names and meanings as torch.distributed's env:// rendezvous). With none of them set the process
 * is a single, non-distributed run.
 */

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /**
   * Whether this process serves the rendezvous TCPStore. As torch's env:// rendezvous: rank 0
   * does, unless torchrun's agent serves it on MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True), when
   * every rank connects. GTR_STORE_SERVER=0 / 1 overrides for rank 0.
   */
  storeServer: boolean;
  /** Collective / rendezvous timeout in ms (GTR_DIST_TIMEOUT_S, default 1800 s as torch's). */
  timeoutMs: number;
}

const VARS = ['RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'] as const;

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const raw = env[name];
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min) {
    throw new Error(`environment variable ${name}=${raw ?? '(unset)'}: an integer >= ${min} expected`);
  }
  return v;
}

/**
 * The distributed environment, or undefined when none of RANK / WORLD_SIZE / LOCAL_RANK /
 * MASTER_ADDR / MASTER_PORT is set.
 * @throws Error naming the variable when some are set but one is missing or not a valid number
 */
export function readDistEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | undefined {
  if (![...VARS, 'LOCAL_RANK'].some((k) => env[k] !== undefined)) return undefined;
  const missing = VARS.filter((k) => env[k] === undefined);
  if (missing.length) throw new Error(`a distributed run needs ${VARS.join(', ')}; missing: ${missing.join(', ')}`);
  const worldSize = intVar(env, 'WORLD_SIZE', 1);
  const rank = intVar(env, 'RANK', 0);
  if (rank >= worldSize) throw new Error(`RANK=${rank} is not below WORLD_SIZE=${worldSize}`);
  const localRank = env.LOCAL_RANK === undefined ? rank : intVar(env, 'LOCAL_RANK', 0);
  const masterPort = intVar(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new Error(`MASTER_PORT=${masterPort}: a port in [1, 65535] expected`);
  const timeoutS = env.GTR_DIST_TIMEOUT_S === undefined ? 1800 : intVar(env, 'GTR_DIST_TIMEOUT_S', 1);
  return {
    rank,
    worldSize,
    localRank,
    masterAddr: env.MASTER_ADDR!,
    masterPort,
    storeServer:
      rank === 0 &&
      (env.GTR_STORE_SERVER === undefined ? env.TORCHELASTIC_USE_AGENT_STORE !== 'True' : env.GTR_STORE_SERVER === '1'),
    timeoutMs: timeoutS * 1000,
  };
}
