import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../core/errors.js';
import type { BlobStore } from './blobStore.js';
import { LocalBlobStore } from './localBlobStore.js';
import { parseS3Location, S3BlobStore, type S3BlobStoreOptions } from './s3BlobStore.js';

/** Where a blob store lives, as a user names it: `s3://bucket[/prefix]` or a local directory. */
export type BlobLocation = { kind: 's3'; bucket: string; prefix: string } | { kind: 'local'; path: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * Reads a blob store location: `s3://bucket[/prefix]` (any S3-compatible service; its endpoint is
 * an option of the store), a `file:` URL or a directory path. Anything else is a UserError.
 */
export function parseBlobLocation(text: string): BlobLocation {
  if (text.trim() === '') throw new UserError('blob store location is empty');
  const scheme = SCHEME.exec(text)?.[1].toLowerCase();
  if (scheme === 's3') return { kind: 's3', ...parseS3Location(text) };
  if (scheme === 'file') {
    try {
      return { kind: 'local', path: fileURLToPath(text) };
    } catch (error) {
      throw new UserError(`invalid file URL for the blob store: ${text} (${(error as Error).message})`);
    }
  }
  if (scheme !== undefined)
    throw new UserError(
      `unsupported blob store location: ${text} (use s3://bucket[/prefix] with the service's S3 ` +
        'endpoint for GCS, OSS, MinIO or Ceph, or a local directory)',
    );
  return { kind: 'local', path: resolve(text) };
}

/** The store at `text` (see parseBlobLocation); `s3` configures an S3 location's client. */
export function openBlobStore(text: string, s3: S3BlobStoreOptions = {}): BlobStore {
  const location = parseBlobLocation(text);
  if (location.kind === 's3') return new S3BlobStore(location, s3);
  const kind = (() => {
    try {
      return statSync(location.path).isDirectory() ? 'directory' : 'other';
    } catch {
      return 'missing';
    }
  })();
  if (kind === 'other') throw new UserError(`blob store is not a directory: ${location.path}`);
  try {
    return new LocalBlobStore(location.path);
  } catch (error) {
    throw new UserError(`cannot use ${location.path} as the blob store: ${(error as Error).message}`);
  }
}
