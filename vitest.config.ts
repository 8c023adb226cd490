import { defineConfig } from 'vitest/config';

// Tests run on CPU libtorch with 2 cores: native tests are heavy, so files run in forks with a
// modest parallelism and generous timeouts. No test asserts a duration.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
