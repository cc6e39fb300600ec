import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { Metrics } from '../../src/coordinator/metrics.js';
import { OnDemandFallback } from '../../src/coordinator/onDemandFallback.js';
import { LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import type { Store } from '../../src/store/store.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { backends } from '../helpers/storeBackends.js';

const WORKER = 'worker-secret';
const ADMIN = 'admin-secret';
const MIN = 60_000;

for (const backend of backends) {
  const title = `on-demand fallback over ${backend.name}${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    const closers: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
    });

    /** The coordinator's API as `spotfuse server` wires it, on a fresh store, with a 10-minute spot-wait limit. */
    async function coordinator(store: Store) {
      const dir = mkdtempSync(join(tmpdir(), 'spotfuse-fallback-'));
      const blobs = new LocalBlobStore(join(dir, 'blobs'));
      const logs: Record<string, unknown>[] = [];
      const fallback = { spotWaitLimitMs: 10 * MIN };
      const onDemand = new OnDemandFallback(store, fallback, {
        log: (msg, fields) => logs.push({ msg, ...fields }),
      });
      const metrics = new Metrics({ store, onDemandOnly: ['merge'], onDemand });
      const leases = new LeaseService(store, blobs, { leaseTtlMs: MIN, maxAttempts: 3, metrics });
      const app = buildApi({
        leases,
        workerToken: WORKER,
        store,
        adminToken: ADMIN,
        metrics,
        jobs: { store, blobs, fallback },
      });
      const base = await app.listen({ host: '127.0.0.1', port: 0 });
      closers.push(() => app.close());
      const call = async (method: string, path: string, token: string, body?: unknown) => {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: response.status, body: response.status === 204 ? undefined : await response.json() };
      };
      const wanted = async () => {
        const samples = parseExposition(await (await fetch(`${base}/metrics`)).text());
        return Object.fromEntries(
          ['policy', 'deadline', 'spot_wait'].map((reason) => [
            reason,
            sampleValue(samples, 'spotfuse_on_demand_wanted', { reason }),
          ]),
        );
      };
      return { call, wanted, logs };
    }

    it('asks for on-demand workers for tasks that waited past the limit and a deadline spot will miss, and says why', async () => {
      const { store } = await backend.open();
      closers.push(() => store.close());
      const { call, wanted, logs } = await coordinator(store);
      const now = Date.now();
      const framePts = Array.from({ length: 4000 }, (_, i) => i);
      const chunks = [0, 1, 2, 3].map((i) => ({ start: i * 1000, end: (i + 1) * 1000 }));
      const probe = { video: { fps: 30 } };
      // Queued 20 minutes ago; nobody has taken it since.
      const waited = await store.createJob(
        { key: 'waited', spec: passthroughSpec, probe, framePts, chunks, tenant: 'acme' },
        now - 20 * MIN,
      );
      // Queued just now with a deadline that has all but passed: no spot worker can make it.
      const deadline = now + 1000;
      const urgent = await store.createJob(
        {
          key: 'urgent',
          spec: { ...passthroughSpec, deadline } as never,
          probe,
          framePts,
          chunks,
          tenant: 'globex',
        },
        now,
      );
      // A job nobody is in a hurry for, queued just now: spot work.
      await store.createJob({ key: 'calm', spec: passthroughSpec, probe, framePts, chunks }, now);

      expect(await wanted()).toEqual({ policy: 0, deadline: 4, spot_wait: 4 });
      expect(logs).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            msg: 'on-demand workers wanted: 4 of 4 waiting tasks waited over 600 s for spot',
            jobId: waited.id,
            workers: 4,
            reasons: ['spot_wait'],
          }),
          expect.objectContaining({ jobId: urgent.id, workers: 4, reasons: ['deadline'] }),
        ]),
      );
      expect(logs).toHaveLength(2);

      // A spot worker takes one of the waited job's tasks (oldest job first): three are left waiting.
      const claimed = await call('POST', '/v1/claim', WORKER, {
        protocol: LEASE_PROTOCOL,
        workerId: 'spot-1',
        pool: 'spot',
        lifecycle: 'spot',
      });
      expect(claimed.status, JSON.stringify(claimed.body)).toBe(200);
      expect(claimed.body.task.jobId).toBe(waited.id);
      expect(await wanted()).toEqual({ policy: 0, deadline: 4, spot_wait: 3 });

      const report = await call('GET', `/v1/jobs/${waited.id}`, ADMIN);
      expect(report.status).toBe(200);
      expect(report.body.onDemand).toEqual({
        workers: 3,
        reasons: ['spot_wait'],
        detail: '3 of 3 waiting tasks waited over 600 s for spot',
      });
      expect(report.body.deadline).toBeUndefined();
      const urgentReport = (await call('GET', `/v1/jobs/${urgent.id}`, ADMIN)).body;
      expect(urgentReport.deadline).toBe(new Date(deadline).toISOString());
      expect(urgentReport.onDemand).toMatchObject({ workers: 4, reasons: ['deadline'] });
      expect(urgentReport.onDemand.detail).toMatch(/^deadline .*: no spot worker has it \(4000 frames left/);

      // Canceled, the urgent job asks for nothing more, and the log says so.
      expect((await call('POST', `/v1/jobs/${urgent.id}/cancel`, ADMIN)).status).toBe(200);
      expect(await wanted()).toEqual({ policy: 0, deadline: 0, spot_wait: 3 });
      expect(logs.at(-1)).toEqual({ msg: 'on-demand workers no longer wanted', jobId: urgent.id });
      expect((await call('GET', `/v1/jobs/${urgent.id}`, ADMIN)).body.onDemand).toBeNull();
    });
  });
}
