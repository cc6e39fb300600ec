import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/blob/blobStore.js';
import { JobAdmission } from '../../src/coordinator/jobAdmission.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import {
  AdmissionRefused,
  DEFAULT_TENANT_LIMITS,
  type TenantLimits,
  TenantTurns,
} from '../../src/coordinator/tenantLimits.js';
import { UserError } from '../../src/core/errors.js';
import type { VideoProbe } from '../../src/media/probe.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { passthroughSpec } from '../helpers/jobSpec.js';

const spec = passthroughSpec;

function probeOf(frames: number, width = 320, height = 240): VideoProbe {
  return {
    formatName: 'mov,mp4,m4a,3gp,3g2,mj2',
    durationSeconds: frames / 30,
    startTimeSeconds: 0,
    sizeBytes: 1000,
    video: {
      streamIndex: 0,
      codec: 'h264',
      width,
      height,
      rotation: 0,
      sourcePixFmt: 'yuv420p',
      pipePixFmt: 'yuv420p',
      timeBase: { num: 1, den: 30 },
      fps: 30,
      colour: {},
      frameCount: frames,
      firstFramePts: 0,
      framePts: Array.from({ length: frames }, (_, i) => i),
      lastFrameDurationTicks: 1,
    },
    audio: [],
  };
}

const blobs: BlobStore = {
  readUrl: async (key) => `file:///blobs/${key}`,
  writeUrl: async (key) => `file:///blobs/${key}`,
  size: async () => undefined,
  delete: async () => {},
  list: async () => [],
};

describe('JobAdmission', () => {
  let store: SqliteStore;
  beforeEach(() => {
    store = new SqliteStore(':memory:');
  });
  afterEach(() => store.close());

  it('plans whole-frame tasks and stores the probe with its frame timestamps apart', async () => {
    const admission = new JobAdmission(store, { now: () => 7 });
    const { job, resumed } = await admission.admit({
      key: 'k1',
      spec,
      probe: probeOf(100),
      chunking: { parallelism: 4 },
    });
    expect(resumed).toBe(false);
    expect(job).toMatchObject({ frameCount: 100, createdAt: 7, tenant: null, state: 'running' });
    const ranges = (await store.listTasks(job.id)).filter((t) => t.kind === 'process').map((t) => t.range);
    expect(ranges.length).toBeGreaterThanOrEqual(4);
    expect(ranges[0].start).toBe(0);
    expect(ranges.at(-1)?.end).toBe(100);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i].start).toBe(ranges[i - 1].end);
    expect(await store.getFramePts(job.id, { start: 98, end: 100 })).toEqual([98, 99]);
    // What a claim hands a worker: the stored probe, without the per-frame timestamps.
    const claim = await new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 1 }).claim(
      'w',
      'spot',
    );
    expect(claim?.probe.video).toMatchObject({ width: 320, height: 240, frameCount: 100 });
    expect(claim?.probe.video).not.toHaveProperty('framePts');
  });

  it('honours the chunk size asked for', async () => {
    const { job } = await new JobAdmission(store).admit({
      key: 'k',
      spec,
      probe: probeOf(95),
      chunking: { parallelism: 1, chunkFrames: 30 },
    });
    const ranges = (await store.listTasks(job.id)).map((t) => t.range);
    expect(ranges).toEqual([
      { start: 0, end: 30 },
      { start: 30, end: 60 },
      { start: 60, end: 90 },
      { start: 90, end: 95 },
    ]);
  });

  it('resumes the unfinished job of the same key, a failed one made runnable again, with the new targets', async () => {
    const admission = new JobAdmission(store);
    const first = await admission.admit({
      key: 'same',
      spec,
      probe: probeOf(20),
      chunking: { parallelism: 1 },
    });
    const leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 1 });
    const claimed = await leases.claim('w', 'spot');
    if (!claimed) throw new Error('nothing claimed');
    await leases.release(claimed.task.id, claimed.task.epoch, 'error', 'boom');
    expect((await store.getJob(first.job.id))?.state).toBe('failed');

    const notify = { webhooks: ['https://example.com/hook'], emails: [], events: [] };
    const again = await admission.admit({
      key: 'same',
      spec: { ...spec, notify },
      probe: probeOf(20),
      chunking: { parallelism: 1 },
      resume: true,
    });
    expect(again.resumed).toBe(true);
    expect(again.job.id).toBe(first.job.id);
    expect(again.job.state).toBe('running');
    expect(again.job.spec.notify).toEqual(notify);
    expect(await store.listJobs()).toHaveLength(1);
  });

  it("holds a tenant's job to the limits and queues nothing it refuses", async () => {
    const limits: TenantLimits = { ...DEFAULT_TENANT_LIMITS, maxJobPixels: 320 * 240 * 10, maxActiveJobs: 1 };
    const admission = new JobAdmission(store, { limits, turns: new TenantTurns() });
    const refusal = (work: Promise<unknown>) =>
      work.then(
        () => undefined,
        (error: unknown) => error,
      );

    const big = await refusal(
      admission.admit({ key: 'a', spec, probe: probeOf(11), tenant: 'acme', chunking: { parallelism: 1 } }),
    );
    expect(big).toBeInstanceOf(AdmissionRefused);
    expect(big).toBeInstanceOf(UserError);
    expect(big).toMatchObject({ limit: 'job_pixels', status: 400 });

    const tiny = await refusal(
      admission.admit({
        key: 'b',
        spec,
        probe: probeOf(10),
        tenant: 'acme',
        chunking: { parallelism: 1, chunkFrames: 1 },
      }),
    );
    expect(tiny).toMatchObject({ limit: 'chunk_frames', status: 400 });
    expect(await store.listJobs()).toEqual([]);

    await admission.admit({
      key: 'c',
      spec,
      probe: probeOf(10),
      tenant: 'acme',
      chunking: { parallelism: 1 },
    });
    const busy = await refusal(
      admission.admit({ key: 'd', spec, probe: probeOf(10), tenant: 'acme', chunking: { parallelism: 1 } }),
    );
    expect(busy).toMatchObject({ limit: 'active_jobs', status: 429 });
    expect((await store.listJobs()).map((j) => j.tenant)).toEqual(['acme']);
  });
});
