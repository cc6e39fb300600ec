import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_EXECUTION, DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runWorker } from '../../src/worker/workerLoop.js';

it("a worker's lines about a task carry the same jobId, taskId, workerId and epoch as the coordinator's", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-worker-logs-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  const serverLines: Record<string, unknown>[] = [];
  const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
    leaseTtlMs: 5000,
    maxAttempts: 3,
    logger: pino(
      { level: 'info', base: undefined },
      { write: (l: string) => serverLines.push(JSON.parse(l)) },
    ),
  });
  const app = buildApi({ leases, workerToken: 'secret' });
  try {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    // An input that is not there: the task is claimed, fails at its first frame and is released as an error.
    const job = await store.createJob(
      {
        key: 'k',
        spec: {
          input: join(dir, 'missing.mp4'),
          sources: [],
          output: join(dir, 'out.mp4'),
          processors: ['passthrough'],
          face: DEFAULT_FACE_OPTIONS,
          encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
          checkpointFrames: 10,
        },
        probe: { video: {} },
        framePts: Array.from({ length: 10 }, (_, i) => i),
        chunks: [{ start: 0, end: 10 }],
      },
      Date.now(),
    );
    const workerLines: Record<string, unknown>[] = [];
    const summary = await runWorker({
      client: new LeaseClient(address, 'secret'),
      workerId: 'wl1',
      pool: 'spot',
      workDir: join(dir, 'work'),
      notice: new PreemptionNotice(),
      models: { dir: join(dir, 'models'), catalog: new Map() },
      execution: DEFAULT_EXECUTION,
      maxTasks: 1,
      log: (msg, fields) => workerLines.push({ msg, ...fields }),
    });
    expect(summary).toMatchObject({ failed: 1 });

    const fields = { jobId: job.id, taskId: `${job.id}-t0000`, workerId: 'wl1', epoch: 1 };
    expect(workerLines.map((l) => l.msg)).toEqual([
      'claimed process task frames 0-10',
      expect.stringMatching(/^task failed: /),
    ]);
    for (const line of workerLines) expect(line).toMatchObject(fields);
    expect(serverLines.map((l) => l.msg)).toEqual(['claimed process task', 'task failed']);
    for (const line of serverLines) expect(line).toMatchObject(fields);
  } finally {
    await app.close();
    await store.close();
  }
});
