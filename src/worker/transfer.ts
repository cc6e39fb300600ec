import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

/**
 * Moving blobs by URL: `file:` URLs (embedded mode, shared filesystem) are plain file operations,
 * `http(s):` URLs (presigned object-store URLs) are streamed GET/PUT requests.
 */

function isFileUrl(url: string): boolean {
  return url.startsWith('file:');
}

/** A location ffmpeg can read directly: a local path, or the http(s) URL itself (ffmpeg seeks with Range). */
export function readableLocation(url: string): string {
  return isFileUrl(url) ? fileURLToPath(url) : url;
}

/** Puts a finished local file at `url`. A local target is written atomically (copy beside, then rename). */
export async function uploadFile(localPath: string, url: string): Promise<void> {
  if (isFileUrl(url)) {
    const target = fileURLToPath(url);
    await mkdir(dirname(target), { recursive: true });
    try {
      await rename(localPath, target);
    } catch {
      const partial = `${target}.partial`;
      await copyFile(localPath, partial);
      await rename(partial, target);
    }
    return;
  }
  const { size } = await stat(localPath);
  const response = await fetch(url, {
    method: 'PUT',
    headers: { 'content-length': String(size) },
    body: Readable.toWeb(createReadStream(localPath)) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  if (!response.ok) throw new Error(`upload to object store failed: HTTP ${response.status}`);
}

/** A local copy of the blob at `url` inside `dir` (the file itself for `file:` URLs). */
export async function downloadFile(url: string, dir: string, name: string): Promise<string> {
  if (isFileUrl(url)) return fileURLToPath(url);
  const path = join(dir, name);
  const response = await fetch(url);
  if (!response.ok || !response.body)
    throw new Error(`download from object store failed: HTTP ${response.status}`);
  await mkdir(dir, { recursive: true });
  try {
    await pipeline(Readable.fromWeb(response.body as never), createWriteStream(path));
  } catch (error) {
    await rm(path, { force: true });
    throw error;
  }
  return path;
}
