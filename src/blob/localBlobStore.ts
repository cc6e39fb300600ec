import { mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BlobStore } from './blobStore.js';

/** Blobs as files under one directory, for embedded mode (the workers share the filesystem). */
export class LocalBlobStore implements BlobStore {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
    mkdirSync(this.root, { recursive: true });
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error(`blob key escapes the store: ${key}`);
    return path;
  }

  async readUrl(key: string): Promise<string> {
    return pathToFileURL(this.pathOf(key)).href;
  }

  async writeUrl(key: string): Promise<string> {
    const path = this.pathOf(key);
    mkdirSync(dirname(path), { recursive: true });
    return pathToFileURL(path).href;
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
