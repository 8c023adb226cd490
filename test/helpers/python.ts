/** Optional Python tools for cross-checks (tensorboard, transformers): found or skipped with a reason. */
import { execFileSync } from 'node:child_process';

/** The Python interpreter tests use (`$PYTHON`, else python3). */
export const python = process.env.PYTHON ?? 'python3';

/**
 * Whether `python` imports every module; `why` says what is missing (for the skip message).
 * .ci/run installs tensorboard and transformers; elsewhere the tests that need them skip.
 */
export function pythonHas(modules: string[]): { ok: boolean; why: string } {
  try {
    execFileSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'pipe', timeout: 120_000 });
    return { ok: true, why: '' };
  } catch (e) {
    const msg = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
      .trim()
      .split('\n')
      .pop();
    return {
      ok: false,
      why: `${python} cannot import ${modules.join(', ')} (${msg}); install with: ${python} -m pip install ${modules.join(' ')}`,
    };
  }
}
