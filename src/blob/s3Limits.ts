import { UserError } from '../core/errors.js';
import type { PartLengths } from './blobStore.js';

/** S3's limits, apart from its client: the protocol and the coordinator check uploads against them. */

/** S3's multipart limits: at most 10,000 parts of 5 MiB to 5 GiB each (the last one may be smaller). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** S3's largest object: 5 TiB. */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 4;

/**
 * Part size and count for an upload of `size` bytes: `preferredPartSize` (default 64 MiB) when that
 * fits S3's limits, else the smallest whole MiB that keeps the count within 10,000 parts.
 */
export function planMultipart(size: number, preferredPartSize = 64 * 1024 * 1024) {
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`invalid upload size: ${size}`);
  if (size > MAX_OBJECT_SIZE)
    throw new UserError(`file too big for one object (at most 5 TiB): ${size} bytes`);
  const mib = 1024 * 1024;
  const needed = Math.ceil(Math.ceil(size / MAX_PARTS) / mib) * mib;
  const partSize = Math.max(MIN_PART_SIZE, Math.min(MAX_PART_SIZE, preferredPartSize), needed);
  return { partSize, parts: Math.max(1, Math.ceil(size / partSize)) };
}

/** Bytes of part `n` (1-based) of an upload cut as `lengths` says: all full but the last. */
export function partLength(lengths: PartLengths, n: number): number {
  const parts = Math.max(1, Math.ceil(lengths.size / lengths.partSize));
  if (n < 1 || n > parts) throw new Error(`part ${n} of an upload of ${parts} parts`);
  return n < parts ? lengths.partSize : lengths.size - (parts - 1) * lengths.partSize;
}
