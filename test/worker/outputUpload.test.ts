import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { MIN_PART_SIZE } from '../../src/blob/s3Limits.js';
import { blobRef, LeaseService, segmentKey } from '../../src/coordinator/leaseService.js';
import type { ClaimResponse } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { LeaseClient, LeaseLostError } from '../../src/worker/leaseClient.js';
import { uploadOutput } from '../../src/worker/outputUpload.js';
import { uploadFileMultipart } from '../../src/worker/transfer.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { useTempDir } from '../helpers/tempDir.js';

const TOKEN = 'worker-secret';
const PREFIX = 'cluster';
const tmp = useTempDir();
let s3: S3Harness;
let blobs: S3BlobStore;
let store: SqliteStore;
let leases: LeaseService;
let app: FastifyInstance;
let client: LeaseClient;

beforeAll(async () => {
  s3 = await startS3(await mkdtemp(join(tmp(), 's3rver-')));
  blobs = new S3BlobStore(`s3://${s3.bucket}/${PREFIX}`, s3.options);
  store = new SqliteStore(join(tmp(), 'state.db'));
  // A small threshold and S3's smallest part: a file of a few MiB goes in parts.
  leases = new LeaseService(store, blobs, {
    leaseTtlMs: 60_000,
    maxAttempts: 3,
    multipartThresholdBytes: 1024 * 1024,
    multipartPartBytes: MIN_PART_SIZE,
  });
  app = buildApi({ leases, workerToken: TOKEN });
  client = new LeaseClient(await app.listen({ host: '127.0.0.1', port: 0 }), TOKEN);
});

afterAll(async () => {
  await app?.close();
  await store?.close();
  blobs?.close();
  await s3?.close();
});

/** A job of one chunk, processed and checkpointed, whose merge task the returned claim holds. */
async function claimMerge(output: string): Promise<ClaimResponse> {
  const job = await store.createJob(
    {
      key: output,
      spec: {
        input: '/videos/in.mp4',
        sources: [],
        output: blobRef(output),
        processors: ['passthrough'],
        face: DEFAULT_FACE_OPTIONS,
        encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
        checkpointFrames: 10,
      },
      probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
      framePts: Array.from({ length: 10 }, (_, i) => i),
      chunks: [{ start: 0, end: 10 }],
    },
    Date.now(),
  );
  const process = await client.claim('w1', 'spot');
  if (process?.task.jobId !== job.id) throw new Error('expected the new job');
  const { id, epoch } = process.task;
  await client.checkpoint(id, epoch, 0, 10, segmentKey(job.id, id, epoch, 0));
  await client.complete(id, epoch);
  const merge = await client.claim('w1', 'spot');
  if (merge?.task.kind !== 'merge') throw new Error('expected the merge task');
  return merge;
}

async function objectBytes(key: string): Promise<Buffer> {
  const object = await s3.client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${key}` }));
  return Buffer.from(
    await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
  );
}

const partPuts = () => s3.requests.filter((r) => r.method === 'PUT' && r.query.has('partNumber'));

describe('merged output upload', () => {
  it('sends an output above the threshold in parts signed through the lease API', async () => {
    const claim = await claimMerge('outputs/t/a/output.mp4');
    expect(claim.merge?.multipartAboveBytes).toBe(1024 * 1024);
    const bytes = randomBytes(2 * MIN_PART_SIZE + 12_345);
    const path = join(tmp(), 'big.mp4');
    await writeFile(path, bytes);
    const before = partPuts().length;
    const merge = claim.merge as NonNullable<ClaimResponse['merge']>;
    const parts = await uploadOutput(path, { client, taskId: claim.task.id, epoch: claim.task.epoch, merge });
    expect(parts).toBe(3);
    expect(partPuts().length - before).toBe(3);
    expect((await objectBytes('outputs/t/a/output.mp4')).equals(bytes)).toBe(true);
  });

  it('sends an output up to the threshold with the one presigned PUT', async () => {
    const claim = await claimMerge('outputs/t/b/output.mp4');
    const bytes = randomBytes(300_000);
    const path = join(tmp(), 'small.mp4');
    await writeFile(path, bytes);
    const before = partPuts().length;
    const merge = claim.merge as NonNullable<ClaimResponse['merge']>;
    expect(await uploadOutput(path, { client, taskId: claim.task.id, epoch: claim.task.epoch, merge })).toBe(
      1,
    );
    expect(partPuts().length).toBe(before);
    expect((await objectBytes('outputs/t/b/output.mp4')).equals(bytes)).toBe(true);
  });

  it('resumes an upload from the parts the store has, and serves only the lease holder', async () => {
    const claim = await claimMerge('outputs/t/c/output.mp4');
    const { id, epoch } = claim.task;
    const bytes = randomBytes(MIN_PART_SIZE + 1000);
    const path = join(tmp(), 'resume.mp4');
    await writeFile(path, bytes);

    await expect(client.outputUpload(id, epoch + 1, bytes.length)).rejects.toBeInstanceOf(LeaseLostError);
    const first = await client.outputUpload(id, epoch, bytes.length);
    expect(first).toMatchObject({ partSize: MIN_PART_SIZE, uploaded: [] });
    expect(first.partUrls).toHaveLength(2);
    const put = await fetch(first.partUrls[0], { method: 'PUT', body: bytes.subarray(0, MIN_PART_SIZE) });
    expect(put.status).toBe(200);

    const resumed = await client.outputUpload(id, epoch, bytes.length, first.uploadId);
    expect(resumed.uploadId).toBe(first.uploadId);
    expect(resumed.uploaded).toMatchObject([{ partNumber: 1, size: MIN_PART_SIZE }]);
    // An unknown upload id starts a fresh upload instead of failing.
    const fresh = await client.outputUpload(id, epoch, bytes.length, 'no-such-upload');
    expect(fresh.uploadId).not.toBe(first.uploadId);

    const before = partPuts().length;
    const merge = claim.merge as NonNullable<ClaimResponse['merge']>;
    const etags = await uploadFileMultipart(path, resumed.partUrls, resumed.partSize, {
      uploaded: resumed.uploaded,
    });
    expect(partPuts().length - before).toBe(1);
    await expect(client.completeOutput(id, epoch + 1, first.uploadId, etags)).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    await client.completeOutput(id, epoch, first.uploadId, etags);
    expect((await objectBytes('outputs/t/c/output.mp4')).equals(bytes)).toBe(true);
    expect(merge.outputUrl).toContain('/outputs/t/c/output.mp4');
  });
});
