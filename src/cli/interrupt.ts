/**
 * How `gtr train` and `gtr sft` stop: SIGINT (Ctrl-C), SIGTERM (schedulers, containers) and SIGHUP
 * (a closed terminal, a dropped SSH session) all abort the run's signal, so it saves a checkpoint
 * and exits with 128 + the signal's number (130, 143, 129), as if the signal had ended it; a second
 * signal exits at once. A rank started by `--nproc-per-node` whose launcher is gone (SIGKILLed)
 * stops the same way, and output to a terminal or pipe that went away is dropped instead of
 * crashing the run: losing the console must not lose the training.
 */
import { LAUNCHER_PID_ENV } from '../parallel/launch.js';

/** Exit codes of a signal-stopped command: 128 + the POSIX signal number. */
export const INTERRUPT_EXIT_CODES: Readonly<Record<string, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
const SIGNALS = Object.keys(INTERRUPT_EXIT_CODES) as NodeJS.Signals[];

export interface Interrupts {
  /** Aborted on the first signal (or when the launcher is gone). */
  signal: AbortSignal;
  /** 128 + the first signal's number (130 when none came). */
  exitCode(): number;
  /** Removes the handlers. */
  dispose(): void;
}

/**
 * Installs the handlers. `message(sig)` is what the first signal prints (after a newline, on stderr).
 */
export function handleInterrupts(message: (sig: string) => string): Interrupts {
  const ac = new AbortController();
  let first: string | undefined;
  const stop = (sig: string, why = sig) => {
    if (first !== undefined) process.exit(INTERRUPT_EXIT_CODES[first] ?? 130);
    first = sig;
    try {
      process.stderr.write(`\n${message(why)}\n`);
    } catch {
      // the terminal is gone (SIGHUP)
    }
    ac.abort();
  };
  const onSignal = (sig: NodeJS.Signals) => stop(sig);
  for (const s of SIGNALS) process.on(s, onSignal);
  // EIO (hung-up terminal) / EPIPE (a launcher that died): drop the output, keep training.
  const ignore = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EIO' && e.code !== 'EPIPE') throw e;
  };
  process.stdout.on('error', ignore);
  process.stderr.on('error', ignore);
  const launcher = Number(process.env[LAUNCHER_PID_ENV]);
  const watch =
    Number.isInteger(launcher) && launcher > 0
      ? setInterval(() => {
          if (process.ppid !== launcher && first === undefined)
            stop('SIGTERM', `the launcher (pid ${launcher}) is gone`);
        }, 1000).unref()
      : undefined;
  return {
    signal: ac.signal,
    exitCode: () => INTERRUPT_EXIT_CODES[first ?? 'SIGINT'] ?? 130,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, onSignal);
      process.stdout.off('error', ignore);
      process.stderr.off('error', ignore);
      if (watch) clearInterval(watch);
    },
  };
}
