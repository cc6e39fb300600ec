import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { withExclusive } from './exclusive.js';

/**
 * `models.lock.json` in the model directory records, per file, the SHA-256 of what passed
 * verification, with the size and mtime it had then.
 *
 * It serves two purposes. For models without a pinned SHA-256 (the built-ins) it is the trust-on-
 * first-use anchor: the first download is checked against upstream's CRC32 `.hash`, and from then
 * on the file (and any re-download) must match the recorded SHA-256. For every model it lets a
 * worker skip re-hashing a file that is unchanged since it was verified.
 */
export const LOCK_FILE = 'models.lock.json';

const recordSchema = z.object({ sha256: z.string(), size: z.number(), mtimeMs: z.number() });
const lockSchema = z.record(z.string(), recordSchema);

export type VerifiedRecord = z.infer<typeof recordSchema>;

export async function readLock(dir: string): Promise<Record<string, VerifiedRecord>> {
  const path = join(dir, LOCK_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  try {
    return lockSchema.parse(JSON.parse(text));
  } catch {
    throw new UserError(`${path} is damaged; delete it to verify the models against upstream hashes again`);
  }
}

export async function recordVerified(dir: string, file: string, record: VerifiedRecord): Promise<void> {
  const path = join(dir, LOCK_FILE);
  await withExclusive(path, async () => {
    const lock = { ...(await readLock(dir)), [file]: record };
    const sorted = Object.fromEntries(Object.entries(lock).sort(([a], [b]) => a.localeCompare(b)));
    await writeFile(`${path}.tmp`, `${JSON.stringify(sorted, null, 2)}\n`);
    await rename(`${path}.tmp`, path);
  });
}
