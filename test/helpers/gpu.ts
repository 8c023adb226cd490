/** GPU readiness for the gpu-* tests: they skip on machines without what they need. */
import { native } from '../../src/native/binding.js';

/**
 * True when the addon sees a CUDA device and, with `kernels` (the default), was built with the
 * CUDA kernels; false when the addon cannot load.
 */
export function gpuReady(o: { kernels?: boolean } = {}): boolean {
  try {
    const v = native().versions();
    return v.cudaAvailable && (o.kernels === false || v.cudaCompiled);
  } catch {
    return false;
  }
}
