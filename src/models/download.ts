import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { withExclusive } from './exclusive.js';
import { type FetchOptions, fetchResumable } from './fetchResumable.js';
import type { ModelEntry } from './registry.js';
import { findModel, type ModelSettings } from './settings.js';
import { ChecksumMismatchError, checkFile, recordFile, verifyModel } from './verify.js';

export type EnsureOptions = ModelSettings & FetchOptions;

/**
 * Downloads into `<file>.partial` (kept across interruptions, so the next try resumes), verifies,
 * and only then renames into place. A partial that fails verification is deleted.
 */
async function download(entry: ModelEntry, dir: string, options: FetchOptions): Promise<void> {
  const target = join(dir, entry.file);
  const partial = `${target}.partial`;
  await fetchResumable(entry.url, partial, options);
  let hashes: Awaited<ReturnType<typeof checkFile>>;
  try {
    hashes = await checkFile(partial, entry, dir, target);
  } catch (error) {
    if (error instanceof ChecksumMismatchError) await rm(partial, { force: true });
    throw error;
  }
  await rename(partial, target);
  await recordFile(dir, entry, hashes);
}

/**
 * The path of a verified copy of model `name`, downloading it first when it is missing or fails
 * verification. Processors call this on first use; concurrent callers download once.
 */
export async function ensureModel(name: string, options: EnsureOptions): Promise<string> {
  const { dir } = options;
  const entry = findModel(options.catalog, name);
  const first = await verifyModel(entry, dir, true);
  if (first.state === 'ok') return first.path;
  await mkdir(dir, { recursive: true });
  return withExclusive(first.path, async () => {
    // Another process may have fetched it while this one waited.
    const status = await verifyModel(entry, dir, true);
    if (status.state === 'ok') return status.path;
    if (status.state === 'corrupt') await rm(status.path);
    await download(entry, dir, options);
    return status.path;
  });
}
