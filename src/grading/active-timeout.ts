/**
 * Grader timeouts that a paused process does not use up. A plain timer measures wall time, so a
 * process stopped for 12 s (SIGSTOP, Ctrl-Z, a frozen VM) wakes with every grader deadline past and
 * would score correct answers as timeouts. Here a heartbeat (every TICK_MS while any deadline is
 * armed) detects the stretches in which this process's event loop did not run at all (gaps over
 * PAUSE_MS); a deadline counts only the time outside them, and when its timer fires after a pause it
 * re-arms for what is left. A grader that really hangs still times out, after `ms` of running time.
 */

const TICK_MS = 100;
/** A heartbeat gap above this is a pause (the loop did not run), not timer jitter. */
const PAUSE_MS = 500;

let last = 0;
let pausedTotal = 0;
let armed = 0;
let ticker: NodeJS.Timeout | undefined;

/** Records the time since the last heartbeat; a long gap adds to the paused total. */
function beat(): number {
  const now = performance.now();
  const gap = now - last;
  if (gap > PAUSE_MS) pausedTotal += gap - TICK_MS;
  last = now;
  return now;
}

/** A deadline armed by {@link setActiveTimeout}. */
export interface ActiveTimeout {
  /** Disarms it (idempotent). */
  clear(): void;
}

/**
 * Calls `fn` once `ms` milliseconds of time in which this process ran have passed (wall time less
 * detected pauses; see the module doc).
 */
export function setActiveTimeout(fn: () => void, ms: number): ActiveTimeout {
  if (armed++ === 0) {
    last = performance.now();
    ticker = setInterval(beat, TICK_MS).unref();
  }
  const t0 = beat();
  const paused0 = pausedTotal;
  let done = false;
  let timer: NodeJS.Timeout;
  const disarm = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    if (--armed === 0) clearInterval(ticker);
  };
  const check = () => {
    const now = beat();
    const active = now - t0 - (pausedTotal - paused0);
    if (active >= ms) {
      disarm();
      fn();
    } else timer = setTimeout(check, ms - active);
  };
  timer = setTimeout(check, ms);
  return { clear: disarm };
}
