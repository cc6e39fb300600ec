import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../src/blob/blobStore.js';
import { type JobServices, jobServices } from '../../src/coordinator/jobServices.js';
import type { Principal } from '../../src/coordinator/tokens.js';
import type { JobSpec } from '../../src/core/types.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';

const spec: JobSpec = {
  input: 'blob:uploads/acme/in.mp4',
  sources: [],
  output: 'blob:outputs/acme/x/output.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
};
const blobs: BlobStore = {
  readUrl: async (key) => `https://blobs.example/${key}?signed`,
  writeUrl: async (key) => `https://blobs.example/${key}?put`,
  size: async () => undefined,
  delete: async () => {},
  list: async () => [],
};
const acme: Principal = { role: 'tenant', tenant: 'acme' };
const other: Principal = { role: 'tenant', tenant: 'other' };
const admin: Principal = { role: 'admin' };

/** The services the tenant API's routes call: each answers only what the caller may see. */
describe('job services', () => {
  let store: SqliteStore;
  let services: JobServices;
  let jobId: string;
  beforeEach(async () => {
    store = new SqliteStore(':memory:');
    services = jobServices(store, blobs, { prices: loadPriceTable(), now: () => 1000 });
    const framePts = Array.from({ length: 20 }, (_, i) => i);
    const job = await store.createJob(
      { key: 'k', spec, probe: {}, framePts, chunks: [{ start: 0, end: 20 }], tenant: 'acme' },
      0,
    );
    jobId = job.id;
  });
  afterEach(() => store.close());

  it("shows a tenant its own jobs only, and the admin everyone's with their tenant", async () => {
    expect((await services.queries.list(acme)).map((j) => j.id)).toEqual([jobId]);
    expect(await services.queries.list(other)).toEqual([]);
    expect((await services.queries.list(admin))[0]).toMatchObject({ id: jobId, tenant: 'acme' });
    expect(await services.queries.status(other, jobId)).toBeUndefined();
    expect(await services.queries.logs(other, jobId)).toBeUndefined();
    expect(await services.queries.deliveries(other, jobId)).toBeUndefined();
    expect(await services.queries.status(acme, jobId)).toMatchObject({ jobId, state: 'running', frames: 20 });
    expect((await services.queries.logs(acme, jobId))?.[0]).toMatch(/job .* submitted: 20 frames$/);
    expect(await services.queries.download(acme, jobId)).toEqual({
      conflict: 'job is running, not completed',
    });
  });

  it("logs each attempt's GPU time and cost: an ended one's, a running one's so far, an unknown machine's as unpriced", async () => {
    const HOUR = 3_600_000;
    const later = jobServices(store, blobs, { prices: loadPriceTable(), now: () => HOUR });
    const spot = { cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' } as const;
    const first = await store.claim({
      workerId: 'w1',
      pool: 'spot',
      now: 0,
      leaseTtlMs: HOUR,
      instance: spot,
    });
    await store.release(first!.task.id, first!.task.epoch, 'preempted', null, HOUR / 2, 3);
    await store.claim({
      workerId: 'w2',
      pool: 'spot',
      now: HOUR / 2,
      leaseTtlMs: HOUR,
      instance: { ...spot, instanceType: 'x9.huge' },
    });
    const lines = (await later.queries.logs(acme, jobId)) ?? [];
    // g5.xlarge: $0.40/h spot, $1.006/h on demand; the preempted attempt reported no frame: all of it wasted.
    expect(lines[1]).toMatch(
      /attempt 1 on w1: preempted at .*, 0 frames, 0 checkpointed \[GPU 30m00s \(30m00s wasted\), \$0\.2000 paid, \$0\.5030 at on-demand prices\]$/,
    );
    expect(lines[2]).toMatch(
      /attempt 2 on w2: running, 0 frames, 0 checkpointed \[GPU 30m00s, unpriced \(aws\/x9\.huge\)\]$/,
    );
  });

  it('cancels a job once: the second cancel tells the state it has', async () => {
    expect(await services.control.cancel(other, jobId)).toBeUndefined();
    expect(await services.control.cancel(acme, jobId)).toEqual({ canceled: true });
    expect((await store.getJob(jobId))?.state).toBe('canceled');
    expect(await services.control.cancel(acme, jobId)).toEqual({ canceled: false, state: 'canceled' });
  });

  it('keeps one webhook secret per tenant until it is rotated', async () => {
    const first = await services.webhookSecrets.get('acme');
    expect(first).toMatch(/^whsec_/);
    expect(await services.webhookSecrets.get('acme')).toBe(first);
    expect(await services.webhookSecrets.get(null)).not.toBe(first);
    const rotated = await services.webhookSecrets.rotate('acme');
    expect(rotated).not.toBe(first);
    expect(await services.webhookSecrets.get('acme')).toBe(rotated);
  });
});
