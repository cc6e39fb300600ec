import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Compiled modules, for tests that run code in child processes (`npm test` builds before testing). */
export function distPath(relative: string): string {
  const path = fileURLToPath(new URL(`../../dist/${relative}`, import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`);
  return path;
}

export const CLI = fileURLToPath(new URL('../../bin/spotfuse.js', import.meta.url));
