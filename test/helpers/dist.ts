import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The first source module whose compiled file is missing or older than it: a test of the built code would
 * run what the sources no longer say (a merge or an edit since the last `npm run build`).
 */
function staleModule(): string | undefined {
  for (const entry of readdirSync(`${root}src`, { recursive: true, encoding: 'utf8' })) {
    // The dashboard (src/web) is bundled by Vite into dist/web, not compiled module by module.
    if (!entry.endsWith('.ts') || entry.startsWith('web/')) continue;
    const built = `${root}dist/src/${entry.replace(/\.ts$/, '.js')}`;
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${root}src/${entry}`).mtimeMs)
      return `src/${entry}`;
  }
  return undefined;
}

let checked = false;

/** Throws unless dist/ was built from the sources as they are now (checked once per test file). */
function requireCurrentBuild(): void {
  if (checked) return;
  const stale = staleModule();
  if (stale) throw new Error(`dist/ is older than ${stale}: run \`npm run build\` first (npm test does)`);
  checked = true;
}

/** Compiled modules, for tests that run code in child processes (`npm test` builds before testing). */
export function distPath(relative: string): string {
  requireCurrentBuild();
  return `${root}dist/${relative}`;
}

/** The built CLI, as users run it (its modules are dist/'s). */
export function cliPath(): string {
  requireCurrentBuild();
  return `${root}bin/spotfuse.js`;
}
