/**
 * The piscina worker: grades one item with a registry grader or a custom module (loaded once per
 * worker and cached). Importing this file loads the compute engine up front, so a worker is warm
 * before piscina hands it a task.
 */
import type { MessagePort } from 'node:worker_threads';
import { loadBatchedGrader, loadCustomGrader, type BatchedGraderFn } from './custom.js';
import { computeEngine } from './numeric.js';
import { getGrader } from './registry.js';
import type { GradeResult, GraderFn, GraderSpec } from './types.js';

/** What the pool posts to a worker for one item. */
export interface GradeTask {
  grader: GraderSpec;
  response: string;
  row: Record<string, unknown>;
  prompt: string;
  /** Posted to (then closed) as soon as the worker starts the task: the pool's timeout starts then. */
  startPort?: MessagePort;
  /** Only load the grader (GraderPool.check): resolves to a placeholder verdict once it loaded. */
  check?: boolean;
  /** A batched custom grader's items (one call for all; the task resolves to one verdict each). */
  batch?: { response: string; row: Record<string, unknown>; prompt: string }[];
}

computeEngine();

const custom = new Map<string, Promise<GraderFn>>();
const batched = new Map<string, Promise<BatchedGraderFn>>();

/** The grader function for a spec; custom modules are imported once per worker. */
function resolveGrader(spec: GraderSpec): Promise<GraderFn> | GraderFn {
  if (typeof spec === 'string') return getGrader(spec).fn;
  const key = `${spec.module}#${spec.export ?? 'default'}`;
  let fn = custom.get(key);
  if (!fn) {
    fn = loadCustomGrader(spec);
    custom.set(key, fn);
    fn.catch(() => custom.delete(key));
  }
  return fn;
}

/**
 * Grades one task. Rejects (the pool turns this into a wrong verdict with `error`) when the grader
 * is unknown, a custom module cannot be loaded, or the grader throws / returns something invalid.
 */
export default async function gradeTask(task: GradeTask): Promise<GradeResult> {
  if (task.startPort) {
    task.startPort.postMessage('start');
    task.startPort.close();
  }
  if (typeof task.grader !== 'string' && task.grader.batched) {
    const spec = task.grader;
    const key = `${spec.module}#${spec.export ?? 'default'}`;
    let bfn = batched.get(key);
    if (!bfn) {
      bfn = loadBatchedGrader(spec);
      batched.set(key, bfn);
      bfn.catch(() => batched.delete(key));
    }
    const f = await bfn;
    if (task.check || !task.batch) return { score: 0, correct: false, extracted: null };
    return structuredClone(await f(task.batch)) as unknown as GradeResult;
  }
  const fn = await resolveGrader(task.grader);
  if (task.check) return { score: 0, correct: false, extracted: null };
  const result = await fn(task.response, task.row, task.prompt);
  try {
    return structuredClone(result);
  } catch (err) {
    throw new Error(`grader result cannot be sent back from the worker: ${(err as Error).message}`);
  }
}
