import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../core/errors.js';
import { fetchText } from './fetchResumable.js';
import { type FileHashes, hashFile } from './hashes.js';
import { LOCK_FILE, readLock, recordVerified } from './lockFile.js';
import type { ModelEntry } from './registry.js';

export class ChecksumMismatchError extends UserError {
  constructor(
    readonly file: string,
    readonly kind: 'sha256' | 'crc32' | 'size',
    readonly expected: string,
    readonly actual: string,
    origin: string,
  ) {
    super(`${kind} mismatch for ${file}: expected ${expected} (${origin}), got ${actual}`);
  }
}

export type ModelStatus =
  | { state: 'ok'; path: string }
  | { state: 'missing'; path: string }
  | { state: 'corrupt'; path: string; reason: string };

async function upstreamCrc32(url: string): Promise<string> {
  const hashUrl = `${url}.hash`;
  const text = (await fetchText(hashUrl)).trim().toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(text)) throw new UserError(`${hashUrl} does not hold a CRC32 (8 hex characters)`);
  return text;
}

/**
 * Checks the file at `path` as the content of `entry`: against the pinned SHA-256, else the one
 * recorded in the lock file, else (first use) upstream's CRC32 `.hash` beside the URL.
 * `reportAs` is the name used in errors (the final path, while `path` may be a partial download).
 */
export async function checkFile(
  path: string,
  entry: ModelEntry,
  dir: string,
  reportAs = join(dir, entry.file),
): Promise<FileHashes> {
  const { size } = await stat(path);
  if (entry.size !== undefined && size !== entry.size) {
    throw new ChecksumMismatchError(reportAs, 'size', `${entry.size} bytes`, `${size} bytes`, 'model table');
  }
  const recorded = (await readLock(dir))[entry.file];
  const hashes = await hashFile(path);
  if (entry.sha256 !== undefined || recorded !== undefined) {
    const [expected, origin] = entry.sha256
      ? [entry.sha256, 'pinned']
      : [recorded.sha256, `recorded in ${LOCK_FILE} when first verified`];
    if (hashes.sha256 !== expected) {
      throw new ChecksumMismatchError(reportAs, 'sha256', expected, hashes.sha256, origin);
    }
    return hashes;
  }
  const expected = await upstreamCrc32(entry.url);
  if (hashes.crc32 !== expected) {
    throw new ChecksumMismatchError(reportAs, 'crc32', expected, hashes.crc32, `${entry.url}.hash`);
  }
  return hashes;
}

/** Records a file that passed `checkFile` as it is on disk now. */
export async function recordFile(dir: string, entry: ModelEntry, hashes: FileHashes): Promise<void> {
  const { size, mtimeMs } = await stat(join(dir, entry.file));
  await recordVerified(dir, entry.file, { sha256: hashes.sha256, size, mtimeMs });
}

/**
 * The state of a model in `dir`. `quick` trusts a file that is unchanged (size and mtime) since it
 * was last verified, so workers do not re-hash hundreds of megabytes on every start.
 */
export async function verifyModel(entry: ModelEntry, dir: string, quick = false): Promise<ModelStatus> {
  const path = join(dir, entry.file);
  const found = await stat(path).catch(() => undefined);
  if (!found) return { state: 'missing', path };
  const recorded = (await readLock(dir))[entry.file];
  const unchanged =
    recorded !== undefined &&
    recorded.size === found.size &&
    recorded.mtimeMs === found.mtimeMs &&
    (entry.sha256 === undefined || entry.sha256 === recorded.sha256);
  if (quick && unchanged) return { state: 'ok', path };
  try {
    const hashes = await checkFile(path, entry, dir);
    if (!unchanged) await recordFile(dir, entry, hashes);
    return { state: 'ok', path };
  } catch (error) {
    if (error instanceof ChecksumMismatchError) return { state: 'corrupt', path, reason: error.message };
    throw error;
  }
}
