/**
 * The rollout's KV cache budget (`rollout.kv_cache_gib`, `--kv-cache-gib`): how much memory the
 * paged KV pool of each generate call may take (native/generate/engine.h).
 *
 * Default on CUDA (nano-vllm's `allocate_kv_cache` rule, model_runner.py): the device memory free
 * once the model weights are resident (cudaMemGetInfo's free plus what the caching allocator holds
 * unused), less what will become resident later (the trainer's fp32 master weights, gradients and
 * AdamW moments: 16 bytes per parameter, allocated at the first update), less a margin for
 * activations and workspaces (2 GiB plus 5% of the device). Resolved once at start-up, so every
 * call of a run gets the same pool (same budget, same tokens).
 * Default on CPU: 0, i.e. each call's pool holds every sequence at full length (no preemption);
 * host memory is not probed.
 */
import { native } from '../native/binding.js';

const GiB = 2 ** 30;

/** Bytes the training engine will keep resident per parameter: fp32 master, gradient, exp_avg, exp_avg_sq. */
export const TRAINER_STATE_BYTES_PER_PARAM = 16;

export interface KvBudget {
  /** Budget in GiB; 0 = each call sized to its worst case. */
  gib: number;
  /** One line for the log: the budget and where it came from. */
  describe: string;
}

/**
 * Resolves the KV budget.
 * @param requested the user's value (`rollout.kv_cache_gib` / `--kv-cache-gib`); null / undefined = default
 * @param device the model's device ('cpu', 'cuda', 'cuda:N')
 * @param pendingBytes memory that is not resident yet but will be (e.g. the trainer state:
 *   TRAINER_STATE_BYTES_PER_PARAM x parameters); 0 for generation alone
 * @throws Error naming `flag` when the default leaves no memory for the KV cache
 */
export function resolveKvBudget(
  requested: number | null | undefined,
  device: string,
  pendingBytes = 0,
  flag = 'rollout.kv_cache_gib',
): KvBudget {
  if (requested !== null && requested !== undefined) {
    if (!Number.isFinite(requested) || requested < 0)
      throw new Error(`${flag} must be a number >= 0 (GiB), got ${requested}`);
    return { gib: requested, describe: `rollout KV cache: ${requested} GiB (${flag})` };
  }
  if (!device.startsWith('cuda')) {
    return {
      gib: 0,
      describe:
        'rollout KV cache: sized per call to hold every sequence at full length (CPU; set ' + flag + ' to bound it)',
    };
  }
  const index = device.includes(':') ? Number(device.split(':')[1]) : 0;
  const mem = native().cudaMemory(false, index);
  if (!mem) return { gib: 0, describe: 'rollout KV cache: no CUDA memory information; sized per call' };
  const free = mem.deviceFree + (mem.reserved - mem.allocated);
  const margin = 2 * GiB + 0.05 * mem.deviceTotal;
  const bytes = free - pendingBytes - margin;
  if (bytes < 0.25 * GiB) {
    throw new Error(
      `${flag}: only ${(free / GiB).toFixed(1)} GiB of the device are free after the model, and the trainer state needs ` +
        `${(pendingBytes / GiB).toFixed(1)} GiB more; set ${flag} explicitly or free memory`,
    );
  }
  const gib = Math.floor((bytes / GiB) * 100) / 100;
  return {
    gib,
    describe:
      `rollout KV cache: ${gib} GiB (default: ${(free / GiB).toFixed(1)} GiB free after the model, less ` +
      `${(pendingBytes / GiB).toFixed(1)} GiB of trainer state and a ${(margin / GiB).toFixed(1)} GiB margin; set ${flag} to change)`,
  };
}
