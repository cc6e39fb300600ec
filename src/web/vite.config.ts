import { resolve } from 'node:path';
import { defineConfig } from 'vite';

/** Builds the dashboard into dist/web, which `spotfuse server` serves at `/`. */
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: resolve(import.meta.dirname, '../../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
  },
});
