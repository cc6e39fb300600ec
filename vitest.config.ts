import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: two files run at once and many tests run ffmpeg and ONNX on CI's 2 cores.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // Two test files at a time (Vitest's default on 2 cores is one): one file alone left a core idle for a
    // third of the run, waiting on PostgreSQL, the network or a child process.
    maxWorkers: 2,
    // Workers started by the tests must not probe cloud metadata addresses: tests talk to loopback only.
    env: { SPOTFUSE_CLOUD: 'none' },
  },
});
