/** Runs the built `gtr` CLI (bin/gtr.js -> dist/, built by `npm test`'s build:ts step). */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cliPath, repoRoot } from './paths.js';

const run = promisify(execFile);

export async function gtr(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    timeout: options.timeoutMs ?? 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}
