import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // ffmpeg-heavy suites share 2 cores; running files one by one keeps them from starving each other.
    fileParallelism: false,
    // Workers started by the tests must not probe cloud metadata addresses: tests talk to loopback only.
    env: { SPOTFUSE_CLOUD: 'none' },
  },
});
