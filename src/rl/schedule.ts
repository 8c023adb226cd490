/** Learning-rate schedule over RL steps: linear warm-up, then constant or cosine to 0 (as verl). */
export function learningRate(step: number, t: { lr: number; warmup_steps: number; schedule: 'constant' | 'cosine'; steps: number }): number {
  if (t.warmup_steps > 0 && step <= t.warmup_steps) return (t.lr * step) / t.warmup_steps;
  if (t.schedule === 'constant') return t.lr;
  const span = Math.max(1, t.steps - t.warmup_steps);
  const progress = Math.min(1, Math.max(0, (step - t.warmup_steps) / span));
  return t.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
