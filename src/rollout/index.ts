/** Rollouts: sampling continuations of prompts from a policy (native engine in native/generate). */
export {
  generate,
  cutAtStop,
  generateWithStats,
  toPromptArrays,
  type GenerateOptions,
  type GenerateProgress,
  type GenerateStats,
  type PolicyLike,
  type Rollout,
} from './generate.js';
export { resolveKvBudget, TRAINER_STATE_BYTES_PER_PARAM, type KvBudget } from './kv-budget.js';
