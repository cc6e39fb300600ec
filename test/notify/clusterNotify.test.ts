import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startClusterServer } from '../../src/app/clusterServer.js';
import { resultUrl } from '../../src/coordinator/notifications.js';
import type { EventBody } from '../../src/notify/outbox.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { completeJob, createJob } from './backends.js';
import { startReceiver } from './receiver.js';

describe('spotfuse server notifications', () => {
  it("runs a dispatcher beside the sweeps that delivers a tenant job's end signed with the secret the API hands out", async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-cluster-notify-'));
    const db = join(root, 'state.db');
    const server = await startClusterServer({
      db,
      blob: join(root, 'blobs'),
      host: '127.0.0.1',
      port: 0,
      adminToken: 'admin-secret-admin-secret-0123',
      leaseTtlMs: 30_000,
      maxAttempts: 3,
      notify: { publicUrl: 'https://coord.example/', pollMs: 50 },
    });
    // A second connection to the coordinator's database stands in for its workers.
    const store = new SqliteStore(db);
    const hook = await startReceiver(async () => {
      const res = await fetch(`${server.address}/v1/webhook-secret`, {
        headers: { authorization: 'Bearer admin-secret-admin-secret-0123' },
      });
      return ((await res.json()) as { secret: string }).secret;
    });
    try {
      const job = await createJob(store, { webhooks: [hook.url], emails: [], events: [] });
      await completeJob(store, job.id);
      const deadline = Date.now() + 10_000;
      while (hook.accepted().length === 0 && Date.now() < deadline) await sleep(50);
      const body = hook.accepted()[0]?.verified as EventBody;
      expect(body?.type).toBe('job.completed');
      expect(body.data.jobId).toBe(job.id);
      // The delivery is counted once its attempt is recorded, just after the receiver answered.
      let scrape = '';
      while (!scrape.includes('outcome="delivered"') && Date.now() < deadline)
        scrape = await (await fetch(`${server.address}/metrics`)).text();
      expect(scrape).toMatch(/^spotfuse_webhook_deliveries_total\{outcome="delivered"\} 1$/m);
    } finally {
      await hook.close();
      await store.close();
      await server.close();
    }
  });

  it("links a cluster job's result to the coordinator's download route under --public-url", () => {
    const job = { id: 'job_1', spec: { output: 'blob:outputs/acme/x/output.mp4' } };
    expect(resultUrl(job, 'https://coord.example/')).toBe('https://coord.example/v1/jobs/job_1/download');
    expect(resultUrl(job, undefined)).toBe('/v1/jobs/job_1/download');
  });
});
