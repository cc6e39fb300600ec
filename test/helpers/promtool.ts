import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where `.ci/install-promtool` puts the binary; a developer can run that script to get it too. */
const CACHED = fileURLToPath(new URL('../../.ci/cache/prometheus/root/usr/bin/promtool', import.meta.url));

/**
 * promtool (Prometheus' checker), or why there is none: `SPOTFUSE_PROMTOOL`, `.ci/install-promtool`'s
 * cache, or `promtool` on PATH. Tests that need it skip without it, except in CI, where it must be there.
 */
export async function findPromtool(): Promise<{ path: string } | { unavailable: string }> {
  const candidates = [process.env.SPOTFUSE_PROMTOOL, CACHED, 'promtool'].filter(
    (c): c is string => c !== undefined && c !== '' && (c === 'promtool' || existsSync(c)),
  );
  for (const path of candidates) {
    try {
      await run(path, ['--version']);
      return { path };
    } catch {}
  }
  const reason = 'promtool not found (run .ci/install-promtool, or set SPOTFUSE_PROMTOOL)';
  if (process.env.CI) throw new Error(`${reason}; CI must check the metrics and alert rules`);
  return { unavailable: reason };
}

/** Runs promtool; resolves with its output, rejects with it (stdout and stderr) when it exits non-zero. */
export async function promtool(path: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(path, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`promtool ${args.join(' ')} failed:\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
