import { mkdirSync, realpathSync } from 'node:fs';
import { lstat, mkdir, readdir, realpath, rm, rmdir } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError } from '../core/errors.js';
import { inParallel } from '../core/inParallel.js';
import type { BlobStore } from './blobStore.js';

/** Removals in flight at once: about the libuv thread pool's size, so that other file work still gets a turn. */
const PARALLEL_REMOVALS = 4;

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
    await mkdir(dirname(path), { recursive: true });
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

  /**
   * Removes the blobs, then every folder that this leaves empty. Asynchronously, a few at a time: a server
   * on a local blob directory goes on answering while a long job's 10,000 segments go (removed one by one
   * on its event loop, they held it for 0.2 s).
   */
  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((key) => this.pathOf(key));
    const folders = new Set<string>();
    for (const path of paths)
      for (let dir = dirname(path); dir.startsWith(this.root + sep); dir = dirname(dir)) folders.add(dir);
    await inParallel(paths, PARALLEL_REMOVALS, (path) => rm(path, { force: true }));
    // Deepest first, so a parent is tried after its children.
    for (const dir of [...folders].sort((a, b) => b.length - a.length)) {
      // Not empty (other blobs) or already gone: kept.
      await rmdir(dir).catch(() => {});
    }
  }
}
