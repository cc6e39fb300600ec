import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { MIN_PART_SIZE } from '../../src/blob/s3Limits.js';
import { ApiClient } from '../../src/cli/client/api.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import type { UploadResponse } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { uploadFileMultipart } from '../../src/worker/transfer.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'admin-secret-admin-secret-0123';
const GiB = 1024 ** 3;

type Multipart = Extract<UploadResponse, { multipart: unknown }>['multipart'];

describe('tenant multipart uploads: part URLs in pages', () => {
  const dir = useTempDir();
  let s3: S3Harness;
  let store: SqliteStore;
  let blobs: S3BlobStore;
  const apps: FastifyInstance[] = [];
  let acme: string;

  beforeAll(async () => {
    s3 = await startS3(join(dir(), 's3'));
    store = new SqliteStore(join(dir(), 'state.db'));
    blobs = new S3BlobStore(`s3://${s3.bucket}/pages`, s3.options);
    acme = (await issueToken(store, 'tenant', 'acme')).token;
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await store.close();
    await s3.close();
  });

  /** A coordinator on this store and bucket; `jobs` tunes its tenant routes. */
  function coordinator(jobs: Record<string, unknown> = {}, now?: () => number): FastifyInstance {
    const app = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 5000, maxAttempts: 3 }),
      store,
      adminToken: ADMIN,
      now,
      jobs: { store, blobs, rateLimit: { ratePerSecond: 1000, burst: 1000 }, ...jobs },
    });
    apps.push(app);
    return app;
  }

  const post = (app: FastifyInstance, url: string, payload: object) =>
    app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${acme}` }, payload });

  it('answers a 50 GiB upload with one page of part URLs, not all 800', async () => {
    const app = coordinator();
    const res = await post(app, '/v1/uploads', { name: 'big.mp4', size: 50 * GiB });
    expect(res.statusCode).toBe(201);
    const { key, multipart } = res.json() as { key: string; multipart: Multipart };
    expect(multipart.parts).toBe(800);
    expect(multipart.pageSize).toBe(100);
    expect(multipart.partUrls).toHaveLength(100);
    // Bounded whatever the size: one page of ~450-byte URLs (all 800 made 354 KB).
    expect(res.payload.length).toBeLessThan(64 * 1024);
    expect(new URL(multipart.partUrls[99]).searchParams.get('partNumber')).toBe('100');

    const page = await post(app, '/v1/uploads/parts', {
      key,
      uploadId: multipart.uploadId,
      partNumbers: [800, 101],
    });
    expect(page.statusCode).toBe(200);
    const urls = (page.json() as { partUrls: string[] }).partUrls;
    expect(urls.map((u) => new URL(u).searchParams.get('partNumber'))).toEqual(['800', '101']);
    expect(urls.every((u) => new URL(u).searchParams.get('uploadId') === multipart.uploadId)).toBe(true);

    const tooMany = Array.from({ length: 101 }, (_, i) => i + 1);
    const refused = await post(app, '/v1/uploads/parts', {
      key,
      uploadId: multipart.uploadId,
      partNumbers: tooMany,
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('at most 100 part URLs per request');
    const foreign = await post(app, '/v1/uploads/parts', {
      key: key.replace('uploads/acme/', 'uploads/globex/'),
      uploadId: multipart.uploadId,
      partNumbers: [2],
    });
    expect(foreign.statusCode).toBe(404);
  });

  it('uploads a file of five parts through pages of two URLs with the real client, a failed part retried', async () => {
    const app = coordinator({
      multipartThresholdBytes: MIN_PART_SIZE,
      multipartPartBytes: MIN_PART_SIZE,
      partUrlPage: 2,
    });
    const pages: number[][] = [];
    app.addHook('preHandler', async (request) => {
      if (request.url === '/v1/uploads/parts')
        pages.push((request.body as { partNumbers: number[] }).partNumbers);
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const bytes = randomBytes(4 * MIN_PART_SIZE + 12345);
    const path = join(dir(), 'five-parts.mp4');
    await writeFile(path, bytes);
    s3.failNextPartUploads(1);
    const key = await new ApiClient({ server: address, token: acme }).upload(path);
    expect(pages).toEqual([[3, 4], [5]]);
    expect(s3.requests.filter((r) => r.method === 'PUT' && r.status === 503)).toHaveLength(1);
    const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `pages/${key}` }));
    const stored = Buffer.from(await object.Body!.transformToByteArray());
    expect(stored.length).toBe(bytes.length);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(
      createHash('sha256').update(bytes).digest('hex'),
    );
  });

  it('resumes with paged URLs: only the parts the store lacks are signed and sent', async () => {
    const path = join(dir(), 'resume.bin');
    const bytes = randomBytes(3 * MIN_PART_SIZE + 10);
    await writeFile(path, bytes);
    const key = 'uploads/acme/resume/resume.bin';
    const upload = await blobs.createMultipartUpload(key, 4, undefined, 1);
    expect(upload.partUrls).toHaveLength(1);
    const put = await fetch(upload.partUrls[0], { method: 'PUT', body: bytes.subarray(0, MIN_PART_SIZE) });
    expect(put.status).toBe(200);
    const uploaded = await blobs.listParts(key, upload.uploadId);
    expect(uploaded.map((p) => p.partNumber)).toEqual([1]);
    const asked: number[][] = [];
    const etags = await uploadFileMultipart(
      path,
      {
        parts: 4,
        first: [],
        pageSize: 2,
        sign: async (numbers) => {
          asked.push([...numbers]);
          return blobs.partUrls(key, upload.uploadId, numbers);
        },
      },
      MIN_PART_SIZE,
      { uploaded },
    );
    expect(asked).toEqual([[2, 3], [4]]);
    await blobs.completeMultipartUpload(key, upload.uploadId, etags);
    const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `pages/${key}` }));
    expect(Buffer.from(await object.Body!.transformToByteArray()).equals(bytes)).toBe(true);
  });

  it('signs part URLs a batch at a time across concurrent callers, letting the event loop turn between batches', async () => {
    let turns = 0;
    let signing = true;
    const turn = () => {
      turns++;
      if (signing) setImmediate(turn);
    };
    setImmediate(turn);
    const numbers = Array.from({ length: 100 }, (_, i) => i + 1);
    const signed = await Promise.all(
      [1, 2, 3].map((i) => blobs.partUrls(`uploads/acme/${i}/a.mp4`, `u${i}`, numbers)),
    );
    signing = false;
    expect(signed.map((urls) => urls.length)).toEqual([100, 100, 100]);
    // All at once (every signature a chain of promises, never I/O) held the loop for the whole 300.
    expect(turns).toBeGreaterThanOrEqual(20);
  });

  it('charges part URLs to a token bucket: past it, 429 with Retry-After, nothing signed', async () => {
    let clock = 1_000_000;
    const app = coordinator({ partUrlPage: 4, partUrlRate: { ratePerSecond: 2, burst: 6 } }, () => clock);
    const big = { name: 'big.mp4', size: 50 * GiB };
    const first = await post(app, '/v1/uploads', big);
    expect(first.statusCode).toBe(201);
    const { key, multipart } = first.json() as { key: string; multipart: Multipart };
    expect(multipart.partUrls).toHaveLength(4);
    const signedBefore = s3.requests.length;
    // 2 of the 6 left: a second upload's first page of 4 does not fit.
    const second = await post(app, '/v1/uploads', big);
    expect(second.statusCode).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.json().error).toMatch(/too many part URLs signed/);
    const page = { key, uploadId: multipart.uploadId, partNumbers: [5, 6, 7] };
    expect((await post(app, '/v1/uploads/parts', page)).statusCode).toBe(429);
    // No CreateMultipartUpload reached the store for the refused upload.
    expect(s3.requests.length).toBe(signedBefore);
    clock += 1000; // 2 more URLs: 4 in the bucket
    expect((await post(app, '/v1/uploads/parts', page)).statusCode).toBe(200);
    // A single-URL upload is not charged by the part.
    expect((await post(app, '/v1/uploads', { name: 'small.mp4', size: 1000 })).statusCode).toBe(201);
    expect((await post(app, '/v1/uploads/parts', { ...page, partNumbers: [8, 9] })).statusCode).toBe(429);
  });
});
