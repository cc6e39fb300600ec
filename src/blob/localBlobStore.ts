import { mkdirSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { lstat, readdir, realpath } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../core/errors.js';
import type { BlobStore } from './blobStore.js';

/** Blobs as files under one directory, for embedded mode (the workers share the filesystem). */
export class LocalBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    mkdirSync(resolve(root), { recursive: true });
    // The real path, so that a blob's own real path can be compared with where it should be.
    this.root = realpathSync(resolve(root));
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return path;
  }

  async readUrl(key: string): Promise<string> {
    return pathToFileURL(this.pathOf(key)).href;
  }

  /** Nothing checks what is written to a `file:` URL: `size` is checked when the blob is used. */
  async writeUrl(key: string, _size?: number): Promise<string> {
    const path = this.pathOf(key);
    mkdirSync(dirname(path), { recursive: true });
    return pathToFileURL(path).href;
  }

  /**
   * Size of a blob that is a plain file at its own place: a link, or a path through a linked folder,
   * could lead anywhere the server can read, and is refused.
   */
  async size(key: string): Promise<number | undefined> {
    const path = this.pathOf(key);
    let info: Awaited<ReturnType<typeof lstat>>;
    let real: string;
    try {
      [info, real] = await Promise.all([lstat(path), realpath(path)]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
    if (real !== path || !info.isFile())
      throw new UserError(`${key} is not a plain file in the blob store (a link or a folder)`);
    return info.size;
  }

  /** Plain files only: a link is no blob of this store (see size). */
  async list(prefix: string): Promise<string[]> {
    const folder = prefix.endsWith('/') ? this.pathOf(prefix) : dirname(this.pathOf(prefix));
    const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch((error) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => relative(this.root, resolve(entry.parentPath, entry.name)).split(sep).join('/'))
      .filter((key) => key.startsWith(prefix));
  }

  /** Removes the blobs, then every folder that this leaves empty. */
  async delete(keys: readonly string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      const path = this.pathOf(key);
      rmSync(path, { force: true });
      for (let dir = dirname(path); dir.startsWith(this.root + sep); dir = dirname(dir)) folders.add(dir);
    }
    // Deepest first, so a parent is tried after its children.
    for (const dir of [...folders].sort((a, b) => b.length - a.length)) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty (other blobs) or already gone.
      }
    }
  }
}
