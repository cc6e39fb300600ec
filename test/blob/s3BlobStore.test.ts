import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlobStore, parseBlobLocation } from '../../src/blob/blobLocation.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { DEFAULT_URL_TTL_SECONDS, parseS3Location, S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { MIN_PART_SIZE, partLength, planMultipart } from '../../src/blob/s3Limits.js';
import { UserError } from '../../src/core/errors.js';
import { probeVideo } from '../../src/media/probe.js';
import { downloadFile, uploadFile, uploadFileMultipart } from '../../src/worker/transfer.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { LIST_PAGE, type S3Harness, startS3 } from './s3Harness.js';

const tmp = useTempDir();
let s3: S3Harness;
let store: S3BlobStore;
const PREFIX = 'cluster/a';

beforeAll(async () => {
  s3 = await startS3(await mkdtemp(join(tmp(), 's3rver-')));
  store = new S3BlobStore(`s3://${s3.bucket}/${PREFIX}/`, s3.options);
});

afterAll(async () => {
  store?.close();
  await s3?.close();
});

async function objectStatus(key: string): Promise<number> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    return 200;
  } catch (error) {
    return (error as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode;
  }
}

async function randomFile(name: string, size: number): Promise<string> {
  const path = join(tmp(), name);
  await writeFile(path, randomBytes(size));
  return path;
}

const puts = (filter: (r: S3Harness['requests'][number]) => boolean) =>
  s3.requests.filter((r) => r.method === 'PUT' && filter(r));

describe('S3BlobStore', () => {
  it('a worker PUTs a file to writeUrl (sized, not chunked) and GETs the same bytes from readUrl', async () => {
    const path = await randomFile('segment.mp4', 3 * 1024 * 1024 + 17);
    const key = 'jobs/j1/segments/t1-e1-f00000000.mp4';
    const writeUrl = await store.writeUrl(key);
    // No checksum of an empty body baked into the URL (the SDK's default would refuse the real bytes on S3).
    expect(writeUrl).not.toMatch(/x-amz-checksum|x-amz-sdk-checksum/i);
    expect(writeUrl).toContain(`/${s3.bucket}/${PREFIX}/jobs/j1/segments/`);
    await uploadFile(path, writeUrl);

    const [put] = puts((r) => r.path.endsWith('t1-e1-f00000000.mp4'));
    expect(put.status).toBe(200);
    expect(put.headers['content-length']).toBe(String(3 * 1024 * 1024 + 17));
    expect(put.headers['transfer-encoding']).toBeUndefined();

    // What the Content-Length spares us: the same bytes streamed with chunked encoding are refused.
    const chunked = await fetch(await store.writeUrl('jobs/j1/segments/chunked.mp4'), {
      method: 'PUT',
      body: Readable.toWeb(createReadStream(path)) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(501);
    expect(await store.exists('jobs/j1/segments/chunked.mp4')).toBe(false);

    const copy = await downloadFile(await store.readUrl(key), join(tmp(), 'down'), 'copy.mp4');
    expect((await readFile(copy)).equals(await readFile(path))).toBe(true);
    expect(await objectStatus(`${PREFIX}/${key}`)).toBe(200);
    expect(await store.exists(key)).toBe(true);
    expect(await store.size(key)).toBe(3 * 1024 * 1024 + 17);
    expect(await store.size('jobs/j1/segments/never-written.mp4')).toBeUndefined();
    expect(await store.exists('jobs/j1/segments/never-written.mp4')).toBe(false);
  });

  it('signs keys with spaces and non-ASCII letters, and the server refuses a tampered URL', async () => {
    const path = await randomFile('odd.bin', 1000);
    const key = 'jobs/j 2/ünïcode+plus (1).bin';
    await uploadFile(path, await store.writeUrl(key));
    expect(await store.size(key)).toBe(1000);

    const url = new URL(await store.writeUrl('jobs/j2/other.bin'));
    url.pathname = url.pathname.replace('other.bin', 'elsewhere.bin');
    await expect(uploadFile(path, url.href)).rejects.toThrow(/HTTP 403 SignatureDoesNotMatch/);
    const get = new URL(await store.readUrl(key));
    get.searchParams.set('X-Amz-Expires', '604800');
    const response = await fetch(get);
    expect(response.status).toBe(403);
  });

  it('lets ffprobe read a video through a presigned GET URL, seeking with Range requests', async () => {
    const video = await cfrWithAudio(tmp());
    const key = 'jobs/j3/input.mp4';
    await uploadFile(video, await store.writeUrl(key));
    const url = await store.readUrl(key);
    const before = s3.requests.length;
    const remote = await probeVideo(url);
    const local = await probeVideo(video);
    expect(remote.video.frameCount).toBe(90);
    expect(remote).toEqual(local);
    const gets = s3.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/input.mp4'));
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.every((r) => r.status === 200 || r.status === 206)).toBe(true);
    expect(gets.some((r) => /^bytes=[1-9]/.test(String(r.headers.range)))).toBe(true);
  });

  it('deletes objects in batches of 1000 with Content-MD5; missing ones are no error', async () => {
    const keys = Array.from(
      { length: 1003 },
      (_, i) => `jobs/j4/segments/s${String(i).padStart(4, '0')}.mp4`,
    );
    // A blob that stays. It also keeps the folder from emptying: s3rver deletes a batch's objects
    // concurrently, and two of them racing to remove the emptied folder fail with HTTP 500.
    const kept = 'jobs/j4/segments/kept.mp4';
    const all = [kept, ...keys];
    for (let i = 0; i < all.length; i += 50) {
      await Promise.all(
        all
          .slice(i, i + 50)
          .map((key) =>
            s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key}`, Body: 'x' })),
          ),
      );
    }
    const before = s3.requests.length;
    await store.delete([...keys, 'jobs/j4/segments/never-written.mp4', keys[0]]);

    const deletes = s3.requests.slice(before).filter((r) => r.method === 'POST' && r.query.has('delete'));
    expect(deletes.map((r) => r.status)).toEqual([200, 200]);
    for (const request of deletes) {
      expect(request.headers['content-md5']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(Object.keys(request.headers).filter((h) => h.startsWith('x-amz-checksum'))).toEqual([]);
    }
    expect(await objectStatus(`${PREFIX}/${keys[0]}`)).toBe(404);
    expect(await objectStatus(`${PREFIX}/${keys[1002]}`)).toBe(404);
    const left = await s3.client.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/jobs/j4/` }),
    );
    expect(left.Contents?.map((o) => o.Key)).toEqual([`${PREFIX}/${kept}`]);
    await store.delete([]);
  });

  it('lists the blobs under a key prefix, as keys of the store (its own prefix taken off)', async () => {
    const keys = ['jobs/j5/segments/a.mp4', 'jobs/j5/segments/b.mp4', 'jobs/j50/segments/c.mp4'];
    for (const key of keys)
      await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key}`, Body: 'x' }));
    expect((await store.list('jobs/j5/')).sort()).toEqual(keys.slice(0, 2));
    expect((await store.list('jobs/j5')).sort()).toEqual(keys);
    expect(await store.list('jobs/none/')).toEqual([]);
    await store.delete(keys);
  });

  it('refuses keys that would leave its prefix or are not plain relative paths', async () => {
    for (const key of [
      '../outside.mp4',
      'jobs/../../etc/passwd',
      '/abs.mp4',
      'a//b',
      '',
      '.',
      'a/./b',
      'a\\b',
    ]) {
      await expect(store.writeUrl(key), key).rejects.toThrow(/escapes/);
      await expect(store.readUrl(key), key).rejects.toThrow(/escapes/);
      await expect(store.delete([key]), key).rejects.toThrow(/escapes/);
      await expect(store.size(key), key).rejects.toThrow(/escapes/);
    }
    expect(() => store.objectKey('x'.repeat(1100))).toThrow(/too long/);
    expect(store.objectKey('jobs/a.mp4')).toBe(`${PREFIX}/jobs/a.mp4`);
    const whole = new S3BlobStore(`s3://${s3.bucket}`, s3.options);
    expect(whole.objectKey('jobs/a.mp4')).toBe('jobs/a.mp4');
    whole.close();
  });

  it('has its presigned URLs refused by the server once they expire', async () => {
    const shortLived = new S3BlobStore(`s3://${s3.bucket}/${PREFIX}`, { ...s3.options, urlTtlSeconds: 1 });
    expect(store.urlTtlSeconds).toBe(DEFAULT_URL_TTL_SECONDS);
    const path = await randomFile('expiring.bin', 100);
    const writeUrl = await shortLived.writeUrl('jobs/j5/late.bin');
    const readUrl = await shortLived.readUrl('jobs/j5/early.bin');
    // Written through a long-lived URL: a 1 s one, signed at a whole second's end, may expire before it is used.
    await uploadFile(path, await store.writeUrl('jobs/j5/early.bin'));
    expect(writeUrl).toContain('X-Amz-Expires=1&');
    // X-Amz-Date has whole seconds: after 2.2 s both URLs are past their 1 s for certain.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    await expect(uploadFile(path, writeUrl)).rejects.toThrow(/HTTP 403 AccessDenied \(Request has expired\)/);
    await expect(downloadFile(readUrl, join(tmp(), 'down'), 'late.bin')).rejects.toThrow(
      /HTTP 403 AccessDenied/,
    );
    expect(await store.exists('jobs/j5/late.bin')).toBe(false);
    shortLived.close();
  });

  it('takes a big file as a multipart upload through presigned part URLs', async () => {
    const size = 2 * MIN_PART_SIZE + 123_457;
    const path = await randomFile('big.mp4', size);
    const key = 'uploads/big.mp4';
    const { partSize, parts } = planMultipart(size, MIN_PART_SIZE);
    expect({ partSize, parts }).toEqual({ partSize: MIN_PART_SIZE, parts: 3 });
    const upload = await store.createMultipartUpload(key, parts);
    expect(upload.partUrls).toHaveLength(3);
    for (const url of upload.partUrls) expect(url).not.toMatch(/x-amz-checksum/i);
    const etags = await uploadFileMultipart(path, upload.partUrls, partSize);
    expect(etags).toHaveLength(3);
    const partPuts = puts((r) => r.query.get('uploadId') === upload.uploadId);
    expect(partPuts.map((r) => r.headers['content-length'])).toEqual(
      expect.arrayContaining([String(MIN_PART_SIZE), String(MIN_PART_SIZE), '123457']),
    );
    expect(partPuts.every((r) => r.headers['transfer-encoding'] === undefined)).toBe(true);
    await store.completeMultipartUpload(key, upload.uploadId, etags);

    expect(await store.size(key)).toBe(size);
    const copy = await downloadFile(await store.readUrl(key), join(tmp(), 'down'), 'big.mp4');
    expect((await readFile(copy)).equals(await readFile(path))).toBe(true);
  });

  it('signs the declared size into upload URLs: a body of any other size is refused', async () => {
    const key = 'uploads/t/0123456789abcdef-1/tiny.mp4';
    const url = await store.writeUrl(key, 1);
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
    const put = (target: string, bytes: Buffer | Uint8Array) => {
      const body = new Uint8Array(bytes);
      return fetch(target, { method: 'PUT', headers: { 'content-length': String(body.length) }, body });
    };
    const big = await put(url, randomBytes(2 * 1024 * 1024));
    expect(big.status).toBe(403);
    expect(await big.text()).toMatch(/SignatureDoesNotMatch/);
    expect(await store.exists(key)).toBe(false);
    expect((await put(url, randomBytes(1))).status).toBe(200);
    expect(await store.size(key)).toBe(1);
    // An empty file declares 0 bytes; the worker's own uploads (no size given) stay as they were.
    expect((await put(await store.writeUrl('uploads/t/empty', 0), new Uint8Array(0))).status).toBe(200);
    expect(new URL(await store.writeUrl(key)).searchParams.get('X-Amz-SignedHeaders')).toBe('host');

    // Multipart: each part URL takes exactly its own part's bytes.
    const size = MIN_PART_SIZE + 10;
    const path = await randomFile('declared.mp4', size);
    const lengths = { size, partSize: MIN_PART_SIZE };
    const upload = await store.createMultipartUpload('uploads/t/parts.mp4', 2, lengths);
    const oversized = await put(upload.partUrls[1], randomBytes(MIN_PART_SIZE));
    expect(oversized.status).toBe(403);
    const etags = await uploadFileMultipart(path, upload.partUrls, MIN_PART_SIZE);
    await store.completeMultipartUpload('uploads/t/parts.mp4', upload.uploadId, etags);
    expect(await store.size('uploads/t/parts.mp4')).toBe(size);
    const fresh = await store.partUrls('uploads/t/parts.mp4', upload.uploadId, [2], lengths);
    expect(new URL(fresh[0]).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
    expect(partLength(lengths, 1)).toBe(MIN_PART_SIZE);
    expect(partLength(lengths, 2)).toBe(10);
    expect(partLength({ size: 0, partSize: MIN_PART_SIZE }, 1)).toBe(0);
  });

  it('resumes an interrupted multipart upload from the parts that listParts reports', async () => {
    const size = 2 * MIN_PART_SIZE + 1000;
    const path = await randomFile('resume.mp4', size);
    const key = 'uploads/resume.mp4';
    const upload = await store.createMultipartUpload(key, 3);
    // The client is interrupted after two parts: the third URL is refused (wrong signature).
    const broken = [...upload.partUrls];
    broken[2] = broken[2].replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000');
    const stored: number[] = [];
    await expect(
      uploadFileMultipart(path, broken, MIN_PART_SIZE, {
        concurrency: 1,
        onPart: (part) => stored.push(part.partNumber),
      }),
    ).rejects.toThrow(/part 3 .*HTTP 403/);
    expect(stored).toEqual([1, 2]);

    const listed = await store.listParts(key, upload.uploadId);
    expect(listed.map(({ partNumber, size }) => ({ partNumber, size }))).toEqual([
      { partNumber: 1, size: MIN_PART_SIZE },
      { partNumber: 2, size: MIN_PART_SIZE },
    ]);
    expect(listed.every((part) => /^"[0-9a-f]{32}"$/.test(part.etag))).toBe(true);

    // Later, with fresh URLs: only the missing part travels.
    const before = s3.requests.length;
    const fresh = await store.partUrls(key, upload.uploadId, [1, 2, 3]);
    const etags = await uploadFileMultipart(path, fresh, MIN_PART_SIZE, { uploaded: listed });
    const sent = s3.requests.slice(before).filter((r) => r.method === 'PUT');
    expect(sent.map((r) => r.query.get('partNumber'))).toEqual(['3']);
    expect(etags.slice(0, 2)).toEqual(listed.map((part) => part.etag));

    // More parts than one ListParts page: the store follows the pages.
    expect(LIST_PAGE).toBeLessThan(3);
    expect((await store.listParts(key, upload.uploadId)).map((part) => part.partNumber)).toEqual([1, 2, 3]);
    await store.completeMultipartUpload(key, upload.uploadId, etags);
    const copy = await downloadFile(await store.readUrl(key), join(tmp(), 'down'), 'resume.mp4');
    expect((await readFile(copy)).equals(await readFile(path))).toBe(true);
  });

  it('retries a part the store failed, and gives up on one it refuses', async () => {
    const path = await randomFile('retry.bin', 2 * MIN_PART_SIZE);
    const key = 'uploads/retry.bin';
    const upload = await store.createMultipartUpload(key, 2);
    s3.failNextPartUploads(2);
    const before = s3.requests.length;
    const etags = await uploadFileMultipart(path, upload.partUrls, MIN_PART_SIZE, { retryDelayMs: 10 });
    const statuses = s3.requests
      .slice(before)
      .filter((r) => r.method === 'PUT')
      .map((r) => r.status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    await store.completeMultipartUpload(key, upload.uploadId, etags);
    expect(await store.size(key)).toBe(2 * MIN_PART_SIZE);

    const again = await store.createMultipartUpload('uploads/never.bin', 1);
    s3.failNextPartUploads(5);
    await expect(
      uploadFileMultipart(path, again.partUrls, 2 * MIN_PART_SIZE, { attempts: 3, retryDelayMs: 10 }),
    ).rejects.toThrow(/part 1 .*HTTP 503 SlowDown/);
    s3.failNextPartUploads(0);
    await expect(uploadFileMultipart(path, again.partUrls, MIN_PART_SIZE)).rejects.toThrow(/make 2 parts/);
    await store.abortMultipartUpload('uploads/never.bin', again.uploadId);
    await expect(store.listParts('uploads/never.bin', again.uploadId)).rejects.toThrow(
      /upload does not exist/,
    );
    await store.abortMultipartUpload('uploads/never.bin', again.uploadId);
  });

  it('checks that its bucket can be used', async () => {
    await store.checkBucket();
    const missing = new S3BlobStore('s3://no-such-bucket', s3.options);
    await expect(missing.checkBucket()).rejects.toThrow(UserError);
    await expect(missing.checkBucket()).rejects.toThrow(/bucket not found: s3:\/\/no-such-bucket/);
    missing.close();
  });
});

describe('blob locations', () => {
  it('reads s3://bucket[/prefix] and local directories', () => {
    expect(parseBlobLocation('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseBlobLocation('s3://my.bucket/')).toEqual({ kind: 's3', bucket: 'my.bucket', prefix: '' });
    expect(parseBlobLocation('S3://media/spotfuse/prod/')).toEqual({
      kind: 's3',
      bucket: 'media',
      prefix: 'spotfuse/prod',
    });
    expect(parseBlobLocation('/var/lib/spotfuse/blobs')).toEqual({
      kind: 'local',
      path: '/var/lib/spotfuse/blobs',
    });
    expect(parseBlobLocation('file:///srv/blobs')).toEqual({ kind: 'local', path: '/srv/blobs' });
    expect(parseBlobLocation('blobs')).toEqual({ kind: 'local', path: join(process.cwd(), 'blobs') });
  });

  it('says what is wrong with anything else', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['  ', /empty/],
      ['gs://bucket/x', /unsupported blob store location: gs:\/\/bucket\/x/],
      ['https://bucket.s3.amazonaws.com/x', /unsupported/],
      ['s3://', /invalid bucket name/],
      ['s3://Upper_Case', /invalid bucket name/],
      ['s3://ab', /invalid bucket name/],
      ['s3://bucket/a/../b', /invalid prefix/],
      ['s3://bucket/a//b', /invalid prefix/],
      ['s3://bucket/x?versionId=1', /not an S3 location/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseBlobLocation(text), text).toThrow(UserError);
      expect(() => parseBlobLocation(text), text).toThrow(message);
    }
    expect(() => parseS3Location('/local/dir')).toThrow(/not an S3 location/);
  });

  it('opens the store a location names', async () => {
    const local = openBlobStore(join(tmp(), 'local-blobs'));
    expect(local).toBeInstanceOf(LocalBlobStore);
    const remote = openBlobStore('s3://bucket/prefix', {
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
    });
    expect(remote).toBeInstanceOf(S3BlobStore);
    (remote as S3BlobStore).close();
    const file = await randomFile('not-a-dir', 1);
    expect(() => openBlobStore(file)).toThrow(/not a directory/);
  });

  it('checks the S3 options', () => {
    expect(() => new S3BlobStore('s3://bucket', { urlTtlSeconds: 0 })).toThrow(UserError);
    expect(() => new S3BlobStore('s3://bucket', { urlTtlSeconds: 8 * 24 * 3600 })).toThrow(/URL lifetime/);
    expect(() => new S3BlobStore('s3://bucket', { endpoint: 'minio:9000' })).toThrow(/http\(s\) URL/);
    expect(() => new S3BlobStore('s3://bucket', { accessKeyId: 'only-the-id' })).toThrow(/give both/);
  });

  it('plans multipart uploads within S3 limits', () => {
    const MiB = 1024 * 1024;
    expect(planMultipart(0)).toEqual({ partSize: 64 * MiB, parts: 1 });
    expect(planMultipart(64 * MiB)).toEqual({ partSize: 64 * MiB, parts: 1 });
    expect(planMultipart(64 * MiB + 1)).toEqual({ partSize: 64 * MiB, parts: 2 });
    expect(planMultipart(100 * MiB, 1 * MiB)).toEqual({ partSize: 5 * MiB, parts: 20 });
    const huge = planMultipart(1024 * 1024 * MiB); // 1 TiB
    expect(huge.parts).toBeLessThanOrEqual(10_000);
    expect(huge.partSize % MiB).toBe(0);
    expect(() => planMultipart(6 * 1024 * 1024 * MiB)).toThrow(UserError);
  });
});
