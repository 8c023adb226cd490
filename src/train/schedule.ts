/**
 * Learning-rate schedules: linear warmup, then constant or cosine decay to a floor.
 * Cosine as transformers' get_cosine_schedule_with_warmup with a min-lr floor (verl's
 * min_lr_ratio): after warmup, lr = lr0 * (m + (1 - m) * 0.5 (1 + cos(pi * p))), p the fraction of
 * post-warmup steps done, m = minLrRatio.
 */

export interface LrSchedule {
  /** Peak learning rate (after warmup). */
  lr: number;
  /** Linear warmup steps: lr * (step + 1) / warmupSteps for step < warmupSteps. Default 0. */
  warmupSteps?: number;
  /** 'constant' (default) or 'cosine'. */
  kind?: 'constant' | 'cosine';
  /** Total optimizer steps (required by 'cosine'). */
  totalSteps?: number;
  /** Cosine floor as a fraction of lr, in [0, 1]. Default 0. */
  minLrRatio?: number;
}

/**
 * The learning rate of optimizer step `step` (0-based: the first update is step 0).
 * @throws Error when lr is negative / non-finite, warmupSteps negative, cosine lacks totalSteps,
 *   or minLrRatio is outside [0, 1].
 */
export function lrAt(step: number, s: LrSchedule): number {
  if (!Number.isFinite(s.lr) || s.lr < 0) throw new Error(`schedule.lr must be a finite number >= 0, got ${s.lr}`);
  const warm = s.warmupSteps ?? 0;
  if (!Number.isInteger(warm) || warm < 0) throw new Error(`schedule.warmupSteps must be an integer >= 0, got ${warm}`);
  const m = s.minLrRatio ?? 0;
  if (!(m >= 0 && m <= 1)) throw new Error(`schedule.minLrRatio must be in [0, 1], got ${m}`);
  if (step < warm) return (s.lr * (step + 1)) / warm;
  if ((s.kind ?? 'constant') === 'constant') return s.lr;
  const total = s.totalSteps;
  if (total === undefined || !Number.isInteger(total) || total <= 0) {
    throw new Error('schedule.totalSteps (integer > 0) is required by the cosine schedule');
  }
  const p = Math.min(1, Math.max(0, (step - warm) / Math.max(1, total - warm)));
  return s.lr * (m + (1 - m) * 0.5 * (1 + Math.cos(Math.PI * p)));
}
