/**
 * `gtr train` as a child process for the fault tests: its output collected, a promise of its exit,
 * and `waitFor(re)` resolving when the output matches (rejecting if it exits first). Children still
 * running when the test file ends are killed by the caller's `killAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cliPath, repoRoot } from './paths.js';

export interface TrainProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(re: RegExp): Promise<void>;
  out(): string;
}

const children: ChildProcess[] = [];

/** SIGKILLs every child started here that is still running (call from afterAll). */
export function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/**
 * Starts `node [nodeArgs] bin/gtr.js train <trainArgs>` in the repo root with `env` added. With
 * `group`, it leads its own process group (`process.kill(-pid, sig)` then signals the group, as a
 * terminal's Ctrl-C does).
 */
export function startTrain(
  trainArgs: string[],
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
  opts: { group?: boolean } = {},
): TrainProcess {
  const child = spawn(process.execPath, [...nodeArgs, cliPath, 'train', ...trainArgs], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.group === true,
  });
  children.push(child);
  let out = '';
  const waiters: { re: RegExp; resolve: () => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w.re.test(out) ? w.resolve() : waiters.push(w);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  const waitFor = (re: RegExp) =>
    Promise.race([
      new Promise<void>((resolve) => (re.test(out) ? resolve() : waiters.push({ re, resolve }))),
      exited.then(() => {
        if (!re.test(out)) throw new Error(`gtr train exited before printing ${re}:\n${out}`);
      }),
    ]);
  return { child, exited, waitFor, out: () => out };
}
