/** Grader pools made by a test file, destroyed after it (so no worker outlives its test file). */
import { afterAll } from 'vitest';
import { GraderPool } from '../../src/grading/index.js';

const pools: GraderPool[] = [];
afterAll(async () => {
  await Promise.all(pools.splice(0).map((p) => p.destroy()));
});

/** A GraderPool destroyed when the calling test file ends. */
export function makePool(...args: ConstructorParameters<typeof GraderPool>): GraderPool {
  const p = new GraderPool(...args);
  pools.push(p);
  return p;
}
