import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { withExclusive } from './exclusive.js';
import {
  type FetchOptions,
  fetchResumable,
  type ProgressCallback,
  UnreachableError,
} from './fetchResumable.js';
import { missingModelsMessage } from './missing.js';
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

export interface DownloadView {
  onProgress: ProgressCallback;
  finish(): void;
}

/**
 * `ensureModel` for each named model in turn; returns their paths. A model that cannot be had does not
 * stop the others, except when its server cannot be reached at all: the rest would only wait for the same
 * failure. Then one error lists every model still missing, with sizes and the total, and how to get them.
 */
export async function ensureModels(
  names: readonly string[],
  options: EnsureOptions,
  progressFor?: (name: string) => DownloadView,
): Promise<string[]> {
  const entries = [...new Set(names)].map((name) => findModel(options.catalog, name));
  const paths: string[] = [];
  const failed: ModelEntry[] = [];
  let cause: UserError | undefined;
  let tried = 0;
  for (const entry of entries) {
    if (cause instanceof UnreachableError) break;
    tried++;
    const view = progressFor?.(entry.name);
    try {
      paths.push(await ensureModel(entry.name, { ...options, onProgress: view?.onProgress }));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      failed.push(entry);
      cause ??= error;
      if (error instanceof UnreachableError) cause = error;
    } finally {
      view?.finish();
    }
  }
  if (!cause) return paths;
  const untried = entries.slice(tried);
  const absent = await Promise.all(
    untried.map((entry) =>
      access(join(options.dir, entry.file)).then(
        () => false,
        () => true,
      ),
    ),
  );
  const missing = [...failed, ...untried.filter((_, i) => absent[i])];
  throw new UserError(missingModelsMessage(missing, options.dir, cause.message));
}
