/**
 * Binds the loop's engine interfaces (./engines.ts) to the native addon: the rollout engine
 * (src/rollout) and the trainer (src/train).
 */
import type { Policy } from '../policy.js';
import { generate } from '../rollout/index.js';
import type { RolloutEngine } from './engines.js';

/** The native rollout engine for a policy. */
export function rolloutEngine(policy: Policy): RolloutEngine {
  return {
    generate: (prompts, r, signal) => generate(policy, prompts, {
      n: r.n, maxNewTokens: r.maxNewTokens, temperature: r.temperature, topP: r.topP, topK: r.topK, minP: r.minP,
      stopTokenIds: r.stopTokenIds, seed: r.seed, signal,
    }),
  };
}
