import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { crc32 } from 'node:zlib';

export interface FileHashes {
  sha256: string;
  /** CRC32 as 8 lowercase hex characters, the form of FaceFusion's `.hash` files. */
  crc32: string;
  size: number;
}

/** SHA-256 and CRC32 of a file in one read. */
export async function hashFile(path: string): Promise<FileHashes> {
  const sha256 = createHash('sha256');
  let crc = 0;
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    crc = crc32(chunk, crc);
    size += chunk.length;
  }
  return { sha256: sha256.digest('hex'), crc32: crc.toString(16).padStart(8, '0'), size };
}
