import { existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('deletes more blobs than it removes at once, and only the folders they leave empty', async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-blobs-'));
    const blobs = new LocalBlobStore(root);
    const keys = Array.from({ length: 50 }, (_, i) => `jobs/j1/segments/${i % 2 ? 'odd/' : ''}s${i}.mp4`);
    for (const key of [...keys, 'jobs/j1/output.mp4'])
      writeFileSync(fileURLToPath(await blobs.writeUrl(key)), 'x');
    await blobs.delete(keys);
    expect(readdirSync(join(root, 'jobs', 'j1'))).toEqual(['output.mp4']);
  });

  it('lists the blobs under a key prefix, plain files only', async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-blobs-'));
    const blobs = new LocalBlobStore(root);
    for (const key of ['jobs/j1/segments/a.mp4', 'jobs/j1/segments/b/c.mp4', 'jobs/j10/segments/d.mp4'])
      writeFileSync(fileURLToPath(await blobs.writeUrl(key)), 'x');
    symlinkSync('/etc/passwd', join(root, 'jobs/j1/segments/link.mp4'));
    expect((await blobs.list('jobs/j1/')).sort()).toEqual([
      'jobs/j1/segments/a.mp4',
      'jobs/j1/segments/b/c.mp4',
    ]);
    expect(await blobs.list('jobs/j1/segments/a')).toEqual(['jobs/j1/segments/a.mp4']);
    expect(await blobs.list('jobs/none/')).toEqual([]);
  });

  it('refuses keys that escape its root', async () => {
    const blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'spotfuse-blobs-')));
    await expect(blobs.writeUrl('../outside.mp4')).rejects.toThrow(/escapes/);
    await expect(blobs.readUrl('jobs/../../etc/passwd')).rejects.toThrow(/escapes/);
  });
});

describe('LocalBlobStore.size', () => {
  it('gives the size of a plain file in the store, and nothing for a missing one', async () => {
    const blobs = new LocalBlobStore(mkdtempSync(join(tmpdir(), 'spotfuse-blobs-')));
    writeFileSync(fileURLToPath(await blobs.writeUrl('uploads/t/a/in.mp4', 5)), 'x'.repeat(7));
    expect(await blobs.size('uploads/t/a/in.mp4')).toBe(7);
    expect(await blobs.size('uploads/t/a/other.mp4')).toBeUndefined();
    expect(await blobs.size('uploads/t/a/in.mp4/below')).toBeUndefined();
    await expect(blobs.size('../outside.mp4')).rejects.toThrow(/escapes/);
  });

  it('refuses a link, a path through a linked folder and a folder: they could lead out of the store', async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-blobs-'));
    const outside = mkdtempSync(join(tmpdir(), 'spotfuse-outside-'));
    writeFileSync(join(outside, 'secret.mp4'), 'secret');
    const blobs = new LocalBlobStore(root);
    symlinkSync(join(outside, 'secret.mp4'), fileURLToPath(await blobs.writeUrl('uploads/t/a/in.mp4')));
    await expect(blobs.size('uploads/t/a/in.mp4')).rejects.toThrow(
      'uploads/t/a/in.mp4 is not a plain file in the blob store (a link or a folder)',
    );
    // A link to a file inside the store is refused as well: it could be another tenant's.
    writeFileSync(fileURLToPath(await blobs.writeUrl('uploads/u/b/in.mp4')), 'theirs');
    symlinkSync(join(root, 'uploads/u/b/in.mp4'), fileURLToPath(await blobs.writeUrl('uploads/t/c/in.mp4')));
    await expect(blobs.size('uploads/t/c/in.mp4')).rejects.toThrow(/not a plain file/);
    symlinkSync(outside, join(root, 'uploads/t/d'));
    await expect(blobs.size('uploads/t/d/secret.mp4')).rejects.toThrow(/not a plain file/);
    mkdirSync(join(root, 'uploads/t/e/in.mp4'), { recursive: true });
    await expect(blobs.size('uploads/t/e/in.mp4')).rejects.toThrow(/not a plain file/);
  });

  it('works under a root reached through a link', async () => {
    const real = mkdtempSync(join(tmpdir(), 'spotfuse-blobs-'));
    const link = join(mkdtempSync(join(tmpdir(), 'spotfuse-link-')), 'blobs');
    symlinkSync(real, link);
    const blobs = new LocalBlobStore(link);
    writeFileSync(fileURLToPath(await blobs.writeUrl('uploads/t/a/in.mp4')), 'abc');
    expect(await blobs.size('uploads/t/a/in.mp4')).toBe(3);
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
