import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startClusterServer } from '../../src/app/clusterServer.js';
import { S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { abortAbandonedUploads, sweepSegments } from '../../src/coordinator/blobSweeps.js';
import { blobRef, LeaseService } from '../../src/coordinator/leaseService.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { useTempDir } from '../helpers/tempDir.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

const PREFIX = 'sweeps';
const DAY = 24 * 60 * 60 * 1000;
const tmp = useTempDir();
const pgDb = await createTestDatabase();
let s3: S3Harness;
let blobs: S3BlobStore;

beforeAll(async () => {
  s3 = await startS3(await mkdtemp(join(tmp(), 's3rver-')));
  blobs = new S3BlobStore(`s3://${s3.bucket}/${PREFIX}`, s3.options);
});

afterAll(async () => {
  blobs?.close();
  await s3?.close();
  if ('url' in pgDb) await pgDb.drop();
});

type Ending = 'completed' | 'failed' | 'canceled' | 'running';

/**
 * A job of one chunk with one uploaded segment, brought to `ending` at `clock`; returns its id and segment
 * key, and with `stray`, the key of a segment uploaded under a lease that then expired (never checkpointed).
 */
async function jobWithSegment(
  store: Store,
  ending: Ending,
  clock: number,
  deleteWhenDone = false,
  stray = false,
) {
  const leases = new LeaseService(store, blobs, {
    leaseTtlMs: 60_000,
    maxAttempts: 1,
    now: () => clock,
    deleteSegmentsWhenDone: deleteWhenDone,
  });
  const job = await store.createJob(
    {
      key: `k-${Math.random()}`,
      spec: {
        input: '/in.mp4',
        sources: [],
        output: blobRef(`outputs/t/${clock}/output.mp4`),
        processors: ['passthrough'],
        face: DEFAULT_FACE_OPTIONS,
        encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
        checkpointFrames: 10,
      },
      probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
      framePts: Array.from({ length: 10 }, (_, i) => i),
      chunks: [{ start: 0, end: 10 }],
    },
    clock,
  );
  let claim = await leases.claim('w', 'on-demand');
  if (claim?.task.jobId !== job.id) throw new Error('expected the new job');
  let strayKey: string | undefined;
  if (stray) {
    const lost = await leases.segmentUrl(claim.task.id, claim.task.epoch, 0);
    if (!lost) throw new Error('no segment URL');
    expect((await fetch(lost.url, { method: 'PUT', body: new Uint8Array(10) })).status).toBe(200);
    strayKey = lost.key;
    clock += 120_000;
    await leases.expireLeases();
    claim = await leases.claim('w2', 'on-demand');
    if (claim?.task.jobId !== job.id)
      throw new Error(`expected the expired task: ${JSON.stringify(claim?.task)}`);
  }
  const { id, epoch } = claim.task;
  const target = await leases.segmentUrl(id, epoch, 0);
  if (!target) throw new Error('no segment URL');
  const put = await fetch(target.url, { method: 'PUT', body: new Uint8Array(1000) });
  expect(put.status).toBe(200);
  expect(await leases.checkpoint(id, epoch, 0, 10, target.key)).toBe('ok');
  if (ending === 'completed') {
    expect(await leases.complete(id, epoch)).toBe('ok');
    const merge = await leases.claim('w', 'on-demand');
    if (merge?.task.kind !== 'merge') throw new Error('expected the merge');
    expect(await leases.complete(merge.task.id, merge.task.epoch)).toBe('ok');
  } else if (ending === 'failed') {
    expect(await leases.release(id, epoch, 'error', 'boom')).toBe('ok');
  } else if (ending === 'canceled') {
    expect(await store.cancelJob(job.id, clock)).toBe(true);
  }
  expect((await store.getJob(job.id))?.state).toBe(ending === 'running' ? 'running' : ending);
  return { jobId: job.id, key: target.key, strayKey, leases, task: claim.task };
}

/** `store`, with the ids of the tasks read through its getTask. */
function countingTaskReads(store: Store): { store: Store; reads: string[] } {
  const reads: string[] = [];
  const counting = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      if (name !== 'getTask') return value.bind(target);
      return (taskId: string) => {
        reads.push(taskId);
        return value.call(target, taskId);
      };
    },
  });
  return { store: counting, reads };
}

const backends: { name: string; skip?: string; open(): Promise<Store> }[] = [
  { name: 'SqliteStore', open: async () => new SqliteStore(join(tmp(), `state-${Math.random()}.db`)) },
  'url' in pgDb
    ? {
        name: 'PostgresStore',
        open: async () => {
          const store = await PostgresStore.open(pgDb.url);
          await pgDb.reset();
          return store;
        },
      }
    : { name: 'PostgresStore', skip: pgDb.unavailable, open: () => Promise.reject(new Error('no db')) },
];

for (const backend of backends) {
  describe.skipIf(backend.skip !== undefined)(`segment retention on ${backend.name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await backend.open();
      return () => store.close();
    });

    it('deletes the segments of jobs ended before the cutoff, completed, failed or canceled alike', async () => {
      const completed = await jobWithSegment(store, 'completed', 1000);
      const failed = await jobWithSegment(store, 'failed', 2000);
      const canceled = await jobWithSegment(store, 'canceled', 3000);
      const running = await jobWithSegment(store, 'running', 4000);

      // A day's retention, a day and a half after the first job ended.
      expect(await sweepSegments(store, blobs, 1500)).toEqual({ jobs: 1, failures: [] });
      expect(await blobs.exists(completed.key)).toBe(false);
      // The records stay, so the job's report still counts its segments; the sweep does not list it again.
      expect(await store.listSegments(completed.jobId)).toHaveLength(1);
      expect(await store.listEndedJobsWithSegments(1500, 10)).toEqual([]);
      for (const kept of [failed, canceled, running]) {
        expect(await blobs.exists(kept.key)).toBe(true);
        expect(await store.listSegments(kept.jobId)).toHaveLength(1);
      }

      // Two replicas sweeping at once: each deletes what it finds, neither fails.
      const [a, b] = await Promise.all([
        sweepSegments(store, blobs, DAY),
        sweepSegments(store, blobs, DAY, 1),
      ]);
      expect([...a.failures, ...b.failures]).toEqual([]);
      expect(a.jobs + b.jobs).toBeGreaterThanOrEqual(2);
      for (const gone of [failed, canceled]) {
        expect(await blobs.exists(gone.key)).toBe(false);
      }
      // A running job's segments are never the sweep's, however old.
      expect(await blobs.exists(running.key)).toBe(true);
      expect(await store.listSegments(running.jobId)).toHaveLength(1);
      expect(await store.listEndedJobsWithSegments(DAY, 10)).toEqual([]);
      expect(await store.markSegmentsDeleted(running.jobId, DAY)).toBe(false);
      expect(await store.markSegmentsDeleted(failed.jobId, DAY)).toBe(false);
    });

    it('deletes right after the merge without a retention, leaving the sweep nothing to do', async () => {
      const running = await jobWithSegment(store, 'running', 500, false, true);
      const done = await jobWithSegment(store, 'completed', 1000, true, true);
      expect(await blobs.exists(done.key)).toBe(false);
      // The upload of a worker whose lease expired before its checkpoint goes too; another job's stays.
      expect(done.strayKey).toBeDefined();
      expect(await blobs.exists(done.strayKey ?? '')).toBe(false);
      expect(await blobs.exists(running.strayKey ?? '')).toBe(true);
      expect(await store.listSegments(done.jobId)).toHaveLength(1);
      expect(await sweepSegments(store, blobs, DAY)).toEqual({ jobs: 0, failures: [] });
    });

    it("reads the task again only when a merge completes, to find the job's segments", async () => {
      const counted = countingTaskReads(store);
      const { leases, task, key } = await jobWithSegment(counted.store, 'running', 1000, true);
      counted.reads.length = 0;
      expect(await leases.complete(task.id, task.epoch)).toBe('ok');
      expect(counted.reads).toEqual([]);
      expect(await blobs.exists(key)).toBe(true);
      const merge = await leases.claim('w', 'on-demand');
      if (merge?.task.kind !== 'merge') throw new Error('expected the merge');
      expect(await leases.complete(merge.task.id, merge.task.epoch)).toBe('ok');
      expect(counted.reads).toEqual([merge.task.id]);
      expect(await blobs.exists(key)).toBe(false);
    });
  });
}

describe('abandoned multipart uploads', () => {
  it('aborts uploads under the prefix started before the cutoff, and only those', async () => {
    const now = Date.now();
    const other = new S3BlobStore(`s3://${s3.bucket}/elsewhere`, s3.options);
    try {
      const old1 = await blobs.createMultipartUpload('uploads/t/a/in.mp4', 2);
      const old2 = await blobs.createMultipartUpload('outputs/t/b/output.mp4', 1);
      const fresh = await blobs.createMultipartUpload('uploads/t/c/in.mp4', 1);
      const outside = await other.createMultipartUpload('uploads/t/d/in.mp4', 1);
      for (const id of [old1.uploadId, old2.uploadId, outside.uploadId])
        await s3.backdateUpload(id, now - 2 * DAY);

      // Three uploads under the prefix: more than one page of the harness's listing.
      const listed = await blobs.listMultipartUploads();
      expect(listed.map((u) => u.key).sort()).toEqual([
        'outputs/t/b/output.mp4',
        'uploads/t/a/in.mp4',
        'uploads/t/c/in.mp4',
      ]);
      expect(listed.find((u) => u.uploadId === old1.uploadId)?.initiatedAt).toBeLessThan(now - DAY);

      const result = await abortAbandonedUploads(blobs, now - DAY);
      expect(result).toEqual({ aborted: 2, failures: [] });
      expect((await blobs.listMultipartUploads()).map((u) => u.uploadId)).toEqual([fresh.uploadId]);
      expect((await other.listMultipartUploads()).map((u) => u.uploadId)).toEqual([outside.uploadId]);
      // Two replicas at once: the second finds nothing left to abort.
      expect(await abortAbandonedUploads(blobs, now - DAY)).toEqual({ aborted: 0, failures: [] });
    } finally {
      other.close();
    }
  });
});

describe('the coordinator sweeps', () => {
  it('applies --segment-retention and --abandoned-upload-age on its timer', async () => {
    const db = join(tmp(), 'server.db');
    const server = await startClusterServer({
      db,
      blob: `s3://${s3.bucket}/${PREFIX}`,
      s3: s3.options,
      host: '127.0.0.1',
      port: 0,
      adminToken: 'sweep-test-admin-token-0123456789',
      leaseTtlMs: 60_000,
      maxAttempts: 1,
      segmentRetentionMs: DAY,
      abandonedUploadAgeMs: DAY,
      blobSweepMs: 50,
    });
    const store = new SqliteStore(db);
    try {
      const now = Date.now();
      const expired = await jobWithSegment(store, 'canceled', now - 2 * DAY);
      const kept = await jobWithSegment(store, 'completed', now - DAY / 2);
      const upload = await blobs.createMultipartUpload('uploads/t/e/in.mp4', 1);
      await s3.backdateUpload(upload.uploadId, now - 2 * DAY);
      await expect
        .poll(
          async () =>
            (await blobs.exists(expired.key)) ||
            (await store.listEndedJobsWithSegments(now - DAY, 10)).length,
          {
            timeout: 5000,
          },
        )
        .toBe(0);
      await expect
        .poll(async () => (await blobs.listMultipartUploads()).some((u) => u.uploadId === upload.uploadId), {
          timeout: 5000,
        })
        .toBe(false);
      // Within the retention: a completed job keeps its segments (no deletion right after the merge).
      expect(await blobs.exists(kept.key)).toBe(true);
      expect(await store.listSegments(kept.jobId)).toHaveLength(1);
    } finally {
      await store.close();
      await server.close();
    }
  });
});
