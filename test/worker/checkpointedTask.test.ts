import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService, segmentKey } from '../../src/coordinator/leaseService.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_EXECUTION } from '../../src/vision/faceOptions.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runWorker } from '../../src/worker/workerLoop.js';
import { passthroughSpec } from '../helpers/jobSpec.js';

it('completes a task whose every frame a worker checkpointed before it died, without decoding anything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-checkpointed-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  let clock = Date.now();
  const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
    leaseTtlMs: 5000,
    maxAttempts: 3,
    now: () => clock,
  });
  const app = buildApi({ leases, workerToken: 'secret' });
  try {
    const client = new LeaseClient(await app.listen({ host: '127.0.0.1', port: 0 }), 'secret');
    // The input is not there: a worker that tried to decode any of it would fail the task.
    const job = await store.createJob(
      {
        key: 'k',
        spec: { ...passthroughSpec, input: join(dir, 'missing.mp4') },
        probe: { video: {} },
        framePts: Array.from({ length: 10 }, (_, i) => i),
        chunks: [{ start: 0, end: 10 }],
      },
      clock,
    );
    const first = await client.claim('w1', 'spot');
    if (!first) throw new Error('expected the task');
    const { id, epoch } = first.task;
    await client.checkpoint(id, epoch, 0, 10, segmentKey(job.id, id, epoch, 0));
    // w1 dies before its complete; its lease runs out.
    clock += 60_000;
    expect(await leases.expireLeases()).toBe(1);

    const summary = await runWorker({
      client,
      workerId: 'w2',
      pool: 'spot',
      workDir: join(dir, 'work'),
      notice: new PreemptionNotice(),
      models: { dir: join(dir, 'models'), catalog: new Map() },
      execution: DEFAULT_EXECUTION,
      maxTasks: 1,
      log: () => {},
    });
    expect(summary).toMatchObject({ completed: 1, failed: 0 });
    expect((await store.getTask(id))?.state).toBe('done');
    const attempts = await store.listAttempts(job.id);
    expect(attempts.map((a) => a.outcome)).toEqual(['expired', 'completed']);
  } finally {
    await app.close();
    await store.close();
  }
});
