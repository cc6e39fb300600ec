import { createHash } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { blobRef, LeaseService } from '../../src/coordinator/leaseService.js';
import { jobReport } from '../../src/coordinator/report.js';
import { ProtocolError } from '../../src/core/errors.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import { PostgresStore } from '../../src/store/postgresStore.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import type { Store } from '../../src/store/store.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { useTempDir } from '../helpers/tempDir.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

/**
 * The cluster side of segment integrity, on a real S3 API server: checkpoints record each segment's SHA-256 and
 * size, the merge claim hands them out with every frame's timestamp, and a rejection by the merge's holder
 * deletes the damaged blobs, queues their frames again and shows in the report.
 */

const tmp = useTempDir();
const pgDb = await createTestDatabase();
let s3: S3Harness;
let blobs: S3BlobStore;

beforeAll(async () => {
  s3 = await startS3(await mkdtemp(join(tmp(), 's3rver-')));
  blobs = new S3BlobStore(`s3://${s3.bucket}/rejection`, s3.options);
});

afterAll(async () => {
  blobs?.close();
  await s3?.close();
  if ('url' in pgDb) await pgDb.drop();
});

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

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

for (const backend of backends) {
  describe.skipIf(backend.skip !== undefined)(`segment rejection on ${backend.name} and S3`, () => {
    it('records segment hashes, hands them to the merge, and re-queues what it rejects', async () => {
      const store = await backend.open();
      try {
        const leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3 });
        const job = await store.createJob(
          {
            key: 'k',
            spec: {
              input: '/in.mp4',
              sources: [],
              output: blobRef('outputs/out.mp4'),
              processors: ['passthrough'],
              face: DEFAULT_FACE_OPTIONS,
              encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
              checkpointFrames: 10,
            },
            probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
            framePts: Array.from({ length: 20 }, (_, i) => i),
            chunks: [{ start: 0, end: 20 }],
          },
          Date.now(),
        );
        const claim = (await leases.claim('w', 'on-demand'))!;
        const { id, epoch } = claim.task;
        const keys: string[] = [];
        for (const start of [0, 10]) {
          const target = (await leases.segmentUrl(id, epoch, start))!;
          const body = new Uint8Array(1000).fill(start);
          expect((await fetch(target.url, { method: 'PUT', body })).status).toBe(200);
          // A worker that miscounts its frames is refused.
          await expect(
            leases.checkpoint(id, epoch, start, start + 10, target.key, undefined, { frames: 9 }),
          ).rejects.toThrow(ProtocolError);
          const integrity = { sha256: sha256(body), bytes: body.length, frames: 10 };
          expect(
            await leases.checkpoint(id, epoch, start, start + 10, target.key, undefined, integrity),
          ).toBe('ok');
          keys.push(target.key);
        }
        expect(await leases.complete(id, epoch)).toBe('ok');

        const merge = (await leases.claim('m', 'on-demand'))!;
        expect(merge.framePts).toEqual(Array.from({ length: 20 }, (_, i) => i));
        expect(merge.merge?.segments.map((s) => [s.taskId, s.startFrame, s.endFrame, s.bytes])).toEqual([
          [id, 0, 10, 1000],
          [id, 10, 20, 1000],
        ]);
        expect(merge.merge?.segments[1].sha256).toBe(sha256(new Uint8Array(1000).fill(10)));

        const reason = 'segment 10-20: SHA-256 differs';
        expect(
          await leases.rejectSegments(merge.task.id, merge.task.epoch, [
            { taskId: id, startFrame: 10, reason },
          ]),
        ).toBe('ok');
        // The damaged blob is gone from S3; the good one before it stays.
        expect((await fetch(await blobs.readUrl(keys[1]))).status).toBe(404);
        expect((await fetch(await blobs.readUrl(keys[0]))).status).toBe(200);
        expect((await store.getJob(job.id))?.state).toBe('running');

        const redo = (await leases.claim('w', 'on-demand'))!;
        expect(redo.task).toMatchObject({ id, nextFrame: 10, epoch: epoch + 1 });
        const report = await jobReport(store, job.id, { prices: loadPriceTable() });
        expect(report).toMatchObject({ segmentsRejected: 1, framesRedone: 10, segments: 1 });
      } finally {
        await store.close();
      }
    });
  });
}
