/**
 * `gtr <command> --nproc-per-node N`: starts N ranks of the same command on this machine, as
 * torchrun's standalone mode does (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR =
 * 127.0.0.1, MASTER_PORT = a free port; rank 0 serves the rendezvous store). Rank 0 writes to this
 * terminal; the other ranks' lines are prefixed with `[rank i]`. When a rank fails, the others
 * normally fail at their next collective within milliseconds (naming the operation); any still
 * running after `graceMs` are terminated, so the launch never hangs. SIGINT (Ctrl-C), SIGTERM and
 * SIGHUP are passed on to every rank, which saves and exits (see FORWARDED_SIGNALS). Multi-node jobs
 * use torchrun.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** `argv` without `--nproc-per-node N` / `--nproc-per-node=N`. */
export function stripNprocFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc-per-node') {
      i++;
      continue;
    }
    if (argv[i].startsWith('--nproc-per-node=')) continue;
    out.push(argv[i]);
  }
  return out;
}

/** Signal numbers for a killed rank's exit code 128 + n (any other signal counts as 1). */
const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Signals the launcher passes on to every rank (each rank saves a checkpoint and exits on the first,
 * at once on the second). The ranks run in their own process groups, so a Ctrl-C at the terminal
 * (SIGINT to the foreground group) or a hang-up reaches them once, through here, and the launcher
 * stays alive (holding rank 1's output pipe) while they save.
 */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Environment variable naming the launcher's pid: a rank whose launcher is gone stops as on SIGTERM. */
export const LAUNCHER_PID_ENV = 'GTR_LAUNCHER_PID';

export interface LaunchOptions {
  /** The script the ranks run (default: this process's, i.e. bin/gtr.js). */
  script?: string;
  /** After the first failed rank, the others get this long to exit on their own (ms). Default 60 s. */
  graceMs?: number;
  log?: (line: string) => void;
}

/**
 * Runs `nproc` ranks of `node <script> ...args` and resolves to the exit code: 0 when every rank
 * succeeded, else the first failed rank's code (128 + signal number for a signal).
 */
export async function launchLocal(nproc: number, args: string[], opts: LaunchOptions = {}): Promise<number> {
  if (!Number.isInteger(nproc) || nproc < 1) throw new Error(`--nproc-per-node must be an integer >= 1, got ${nproc}`);
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const script = opts.script ?? process.argv[1];
  const port = await freePort();
  // torchrun sets OMP_NUM_THREADS=1 for several ranks; here the cores are shared out instead.
  const threads = String(Math.max(1, Math.floor(availableParallelism() / nproc)));
  const children: ChildProcess[] = [];
  const exits: Promise<{ rank: number; code: number }>[] = [];
  let firstFailure: { rank: number; code: number } | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const stopOthers = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }, 10_000).unref();
  };
  const forward = (sig: NodeJS.Signals) => {
    log(
      `gtr launch: ${sig}: passed on to every rank (they save a checkpoint and exit; send it again to stop them at once)`,
    );
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  for (const sig of FORWARDED_SIGNALS) process.on(sig, forward);
  for (let rank = 0; rank < nproc; rank++) {
    const env = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(nproc),
      LOCAL_WORLD_SIZE: String(nproc),
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      GTR_STORE_SERVER: rank === 0 ? '1' : '0',
      [LAUNCHER_PID_ENV]: String(process.pid),
      OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? threads,
    };
    const child = spawn(process.execPath, [script, ...args], {
      env,
      stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'],
      // Own process group: the terminal's Ctrl-C / hang-up reaches a rank once, forwarded from here.
      detached: true,
    });
    children.push(child);
    log(`gtr launch: rank ${rank} of ${nproc} is pid ${child.pid} (MASTER_ADDR=127.0.0.1 MASTER_PORT=${port})`);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      const out = stream === child.stdout ? process.stdout : process.stderr;
      createInterface({ input: stream }).on('line', (line) => out.write(`[rank ${rank}] ${line}\n`));
    }
    exits.push(
      new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          const c = code ?? (signal ? 128 + (SIGNAL_NUMBERS[signal] ?? 1) : 1);
          if (c !== 0 && !firstFailure) {
            firstFailure = { rank, code: c };
            log(
              `gtr launch: rank ${rank} (pid ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; ` +
                `stopping the other ranks (terminated after ${Math.round((opts.graceMs ?? 60_000) / 1000)} s if still running)`,
            );
            killTimer = setTimeout(stopOthers, opts.graceMs ?? 60_000);
          }
          resolve({ rank, code: c });
        });
      }),
    );
  }
  try {
    await Promise.all(exits);
  } finally {
    if (killTimer) clearTimeout(killTimer);
    for (const sig of FORWARDED_SIGNALS) process.off(sig, forward);
  }
  return firstFailure?.code ?? 0;
}
