import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { locationUrl } from '../../src/blob/location.js';

describe('LocalBlobStore', () => {
  it('hands out file URLs inside its root and deletes blobs with the folders they leave empty', async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-blobs-'));
    const blobs = new LocalBlobStore(root);
    const a = fileURLToPath(await blobs.writeUrl('jobs/j1/segments/a.mp4'));
    const b = fileURLToPath(await blobs.writeUrl('jobs/j2/segments/b.mp4'));
    writeFileSync(a, 'a');
    writeFileSync(b, 'b');
    expect(await blobs.readUrl('jobs/j1/segments/a.mp4')).toBe(`file://${a}`);

    await blobs.delete(['jobs/j1/segments/a.mp4']);
    expect(existsSync(a)).toBe(false);
    expect(readdirSync(join(root, 'jobs'))).toEqual(['j2']);
    await blobs.delete(['jobs/j2/segments/b.mp4', 'jobs/j2/segments/never-written.mp4']);
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses keys that escape its root', async () => {
    const blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'spotfuse-blobs-')));
    await expect(blobs.writeUrl('../outside.mp4')).rejects.toThrow(/escapes/);
    await expect(blobs.readUrl('jobs/../../etc/passwd')).rejects.toThrow(/escapes/);
  });
});

describe('locationUrl', () => {
  it('turns paths into file URLs and leaves URLs alone', () => {
    expect(locationUrl('/videos/a b.mp4')).toBe('file:///videos/a%20b.mp4');
    expect(locationUrl('https://bucket.example/in.mp4?X-Amz-Signature=1')).toBe(
      'https://bucket.example/in.mp4?X-Amz-Signature=1',
    );
  });
});
