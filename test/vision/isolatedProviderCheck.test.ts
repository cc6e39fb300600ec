import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { checkProviderIsolated } from '../../src/vision/isolatedProviderCheck.js';
import { checkProvider } from '../../src/vision/providerCheck.js';
import { distPath } from '../helpers/dist.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

/** A stand-in for the check's process, running `code`. */
function child(code: string): URL {
  const path = join(dir(), `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(path, code);
  return pathToFileURL(path);
}

it('answers for the cpu provider, from the built check in a process of its own, as the check here does', async () => {
  const status = await checkProviderIsolated('cpu', {
    child: pathToFileURL(distPath('src/vision/providerCheckChild.js')),
  });
  expect(status).toEqual(await checkProvider('cpu'));
  expect(status.available).toBe(true);
});

it('reports a check that crashes its process, with the last line it printed', async () => {
  const status = await checkProviderIsolated('cuda', {
    // As native code that fails: its message on stderr, then the signal.
    child: child(
      `process.stderr.write('loading\\nCUDA driver version is insufficient\\n', () => process.kill(process.pid, 'SIGSEGV'));`,
    ),
  });
  expect(status).toEqual({
    provider: 'cuda',
    available: false,
    detail: 'the check ended its process (SIGSEGV): CUDA driver version is insufficient',
    missing: [],
  });
});

it('reports a check whose process exits without answering, and one that hangs', async () => {
  const exited = await checkProviderIsolated('webgpu', { child: child('process.exit(3);') });
  expect(exited.detail).toBe('the check ended its process (exit 3)');
  const hung = await checkProviderIsolated('tensorrt', {
    child: child('setInterval(() => {}, 1000);'),
    timeoutMs: 500,
  });
  expect(hung).toEqual({
    provider: 'tensorrt',
    available: false,
    detail: 'the check gave no answer within 0.5 s',
    missing: [],
  });
});
