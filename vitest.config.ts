import { defineConfig } from 'vitest/config';

// Tests sit beside the code (src/**/x.test.ts). Each file runs in its own forked process so
// every file initialises its own TensorFlow.js engine; tfjs-heavy files are slow, hence the
// generous timeouts (wall-clock is never asserted: speed lives in bench/).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts', 'web/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
