/**
 * One process per run directory: `gtr train` and `gtr sft` hold a lock on their run.dir (a
 * proper-lockfile lock directory, `run.lock`, kept fresh by its mtime) for as long as they write
 * there, so a second process (a `--resume` while the first run is still alive) fails at start-up
 * instead of interleaving metrics and overwriting checkpoints. Who holds the lock is written to
 * `run.lock.json` (pid, host, start time, command) so the error can name the holder.
 *
 * When the holder ran on this host its pid decides: a live holder keeps the lock however long it
 * has not refreshed it (a process paused by SIGSTOP or Ctrl-Z, a frozen VM), and a dead one's lock
 * is taken over at once. A holder on another host (a shared file system) is judged by the lock's
 * mtime: stale after STALE_MS without updates (proper-lockfile).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

export const LOCK_DIR = 'run.lock';
export const LOCK_HOLDER_FILE = 'run.lock.json';
/** A lock not refreshed for this long belongs to a dead process (refreshed every STALE_MS / 4). */
const STALE_MS = 60_000;

interface Holder {
  pid: number;
  host: string;
  started: string;
  command: string;
}

function readHolder(dir: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_HOLDER_FILE), 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
  }
}

/**
 * Locks `dir` (created if missing) for this process.
 * @param log where a warning goes when the lock could not be kept fresh (a blocked event loop)
 * @returns the release function (idempotent); the lock is also released when the process exits
 * @throws Error naming the directory and the holder (pid, host, start, command) when another live
 *   process holds the lock
 */
export function lockRunDir(dir: string, log: (line: string) => void = (s) => console.error(s)): () => void {
  mkdirSync(dir, { recursive: true });
  const options = {
    lockfilePath: join(dir, LOCK_DIR),
    stale: STALE_MS,
    update: STALE_MS / 4,
    realpath: false,
    // Losing the lock must not kill a training run (proper-lockfile's default throws from a timer).
    onCompromised: (err: Error) =>
      log(`warning: the lock on ${dir} was lost (${err.message}); another process may now write there`),
  };
  const busy = (h: Holder | undefined) => {
    const who = h ? `pid ${h.pid} on ${h.host}, started ${h.started}: ${h.command}` : 'another process';
    return new Error(
      `${dir} is in use by ${who}. Wait for it to finish or stop it; if no such process runs, remove ${join(dir, LOCK_DIR)}`,
    );
  };
  // proper-lockfile takes over a lock whose mtime is older than `stale`, but a live holder that was
  // paused (SIGSTOP, Ctrl-Z, a frozen VM) cannot refresh it: on this host, its pid decides.
  const current = existsSync(join(dir, LOCK_DIR)) ? readHolder(dir) : undefined;
  if (current && current.host === hostname() && current.pid !== process.pid && isAlive(current.pid))
    throw busy(current);
  let release: () => void;
  try {
    release = lockfile.lockSync(dir, options);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw new Error(`cannot lock ${dir}: ${(e as Error).message}`);
    const h = readHolder(dir);
    if (h && h.host === hostname() && h.pid !== process.pid && !isAlive(h.pid)) {
      // The holder was killed (SIGKILL, OOM) before it could release: its lock is stale now.
      rmSync(join(dir, LOCK_DIR), { recursive: true, force: true });
      release = lockfile.lockSync(dir, options);
    } else {
      throw busy(h);
    }
  }
  const holder: Holder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(1).join(' '),
  };
  writeFileSync(join(dir, LOCK_HOLDER_FILE), `${JSON.stringify(holder)}\n`);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    try {
      if (readHolder(dir)?.pid === process.pid && existsSync(join(dir, LOCK_HOLDER_FILE)))
        rmSync(join(dir, LOCK_HOLDER_FILE), { force: true });
      release();
    } catch {
      // already released (compromised, or removed by hand)
    }
  };
}
