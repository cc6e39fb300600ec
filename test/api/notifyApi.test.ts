import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { notificationDispatcher } from '../../src/coordinator/notifications.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import { webhookHeaders } from '../../src/notify/standardWebhooks.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { completeJob, createJob } from '../notify/backends.js';

const ADMIN = 'admin-secret-admin-secret-0123';

/** A loopback port nothing listens on (just released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('notification API', () => {
  let store: SqliteStore;
  let app: FastifyInstance;
  let acme: string;
  let globex: string;

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-notify-api-'));
    store = new SqliteStore(join(root, 'state.db'));
    const blobs = new LocalBlobStore(join(root, 'blobs'));
    app = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 5000, maxAttempts: 3 }),
      store,
      adminToken: ADMIN,
      jobs: { store, blobs, rateLimit: { ratePerSecond: 1000, burst: 1000 } },
    });
    acme = (await issueToken(store, 'tenant', 'acme')).token;
    globex = (await issueToken(store, 'tenant', 'globex')).token;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  const submit = (extra: Record<string, unknown>) =>
    call('POST', '/v1/jobs', acme, {
      input: 'uploads/acme/0123/in.mp4',
      processors: ['passthrough'],
      ...extra,
    });

  it('refuses bad webhook URLs, bad addresses, unknown events and too many targets with a 400, creating nothing', async () => {
    for (const extra of [
      { webhooks: ['ftp://example.com/hook'] },
      { webhooks: ['not a url'] },
      { webhooks: Array.from({ length: 6 }, (_, i) => `https://example.com/${i}`) },
      { emails: ['nobody'] },
      { events: ['job.exploded'] },
    ]) {
      const res = await submit(extra);
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
      expect(res.json().error).toBeTypeOf('string');
    }
    const noSmtp = await submit({ emails: ['ops@example.com'] });
    expect(noSmtp.statusCode).toBe(400);
    expect(noSmtp.json().error).toMatch(/SMTP/);
    expect(await store.listJobs()).toEqual([]);
  });

  it("lists a job's deliveries to its tenant and the admin only", async () => {
    const hook = `http://127.0.0.1:${await closedPort()}/hook`;
    const job = await createJob(store, { webhooks: [hook], emails: [], events: [] }, 'acme');
    await completeJob(store, job.id);
    const notify = notificationDispatcher(store, {}, loadPriceTable(), { backoff: { baseMs: 60_000 } });
    await notify.dispatcher.runOnce();
    await notify.close();
    const res = await call('GET', `/v1/jobs/${job.id}/deliveries`, acme);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.notifications).toMatchObject([
      {
        event: 'job.completed',
        channel: 'webhook',
        target: hook,
        state: 'pending',
        attempts: 1,
      },
    ]);
    expect(body.notifications[0].nextAttemptAt).toBeGreaterThan(Date.now());
    expect(body.attempts).toMatchObject([{ attempt: 1, delivered: false, statusCode: null }]);
    expect(body.attempts[0].error).toMatch(/ECONNREFUSED/);
    expect((await call('GET', `/v1/jobs/${job.id}/deliveries`, globex)).statusCode).toBe(404);
    expect((await call('GET', `/v1/jobs/${job.id}/deliveries`, ADMIN)).statusCode).toBe(200);
  });

  it('hands each tenant its own webhook secret and rotates it', async () => {
    const first = (await call('GET', '/v1/webhook-secret', acme)).json().secret as string;
    expect(first).toMatch(/^whsec_/);
    expect((await call('GET', '/v1/webhook-secret', acme)).json().secret).toBe(first);
    expect((await call('GET', '/v1/webhook-secret', globex)).json().secret).not.toBe(first);
    const rotated = (await call('POST', '/v1/webhook-secret/rotate', acme)).json().secret as string;
    expect(rotated).not.toBe(first);
    expect((await call('GET', '/v1/webhook-secret', acme)).json().secret).toBe(rotated);
    // The handed-out secret is one a receiver's library takes.
    const headers = webhookHeaders(rotated, 'msg_x', '{}', Date.now());
    expect(new Webhook(rotated).verify('{}', headers)).toEqual({});
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/jobs/{id}/deliveries', '/v1/webhook-secret', '/v1/webhook-secret/rotate']),
    );
    expect(doc.components.schemas.SubmitBody.properties.webhooks).toBeDefined();
  });
});
