import { copyFileSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { clientCli } from '../helpers/cluster.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'admin-secret-admin-secret-0123';

/** Every file in the blob store, for checking that nothing was uploaded again. */
function blobFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** `spotfuse retry ID` against a coordinator listening on a real port. */
describe('spotfuse retry', () => {
  const dir = useTempDir();
  let store: SqliteStore;
  let app: FastifyInstance;
  let address: string;
  let acme: string;
  let globex: string;
  let worker: string;
  let jobId: string;
  let inputKey: string;

  const call = async (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) => {
    const response = await fetch(new URL(url, address), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : undefined };
  };
  const cli = (args: string[], token: string) => clientCli(dir(), address, args, token);

  beforeAll(async () => {
    store = new SqliteStore(join(dir(), 'state.db'));
    const blobs = new LocalBlobStore(join(dir(), 'blobs'));
    const leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3 });
    app = buildApi({
      leases,
      store,
      adminToken: ADMIN,
      jobs: { store, blobs, parallelism: 2, rateLimit: { ratePerSecond: 1000, burst: 1000 } },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    address = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    acme = (await issueToken(store, 'tenant', 'acme')).token;
    globex = (await issueToken(store, 'tenant', 'globex')).token;
    worker = (await issueToken(store, 'worker')).token;
    const video = await cfrWithAudio(dir());
    const upload = (await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: statSync(video).size }))
      .json;
    const target = fileURLToPath(upload.url);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(video, target);
    inputKey = upload.key;
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: inputKey,
      processors: ['passthrough'],
      chunkFrames: 90,
    });
    expect(submitted.status).toBe(201);
    jobId = submitted.json.id;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('refuses a job that has not failed, in one line', async () => {
    const early = await cli(['retry', jobId], acme);
    expect(early.code).not.toBe(0);
    expect(early.stderr.trim()).toMatch(/job is running: only a failed job is retried \(HTTP 409\)$/);
    expect(early.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('runs a failed job again from its checkpoint, uploading nothing again; logs cost each attempt', async () => {
    // The first attempt checkpoints frames 0-10, then every attempt fails: the job fails.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claim = (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' }))
        .json as ClaimResponse;
      expect(claim.task.jobId).toBe(jobId);
      if (attempt === 1) {
        const segment = (
          await call('POST', `/v1/tasks/${claim.task.id}/segment-url`, worker, {
            epoch: claim.task.epoch,
            startFrame: 0,
          })
        ).json as { key: string; url: string };
        const file = fileURLToPath(segment.url);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, 'segment of frames 0-10');
        const saved = await call('POST', `/v1/tasks/${claim.task.id}/checkpoint`, worker, {
          epoch: claim.task.epoch,
          startFrame: 0,
          endFrame: 10,
          key: segment.key,
        });
        expect(saved.status).toBe(200);
      } else {
        expect(claim.task.nextFrame).toBe(10);
      }
      await call('POST', `/v1/tasks/${claim.task.id}/release`, worker, {
        epoch: claim.task.epoch,
        reason: 'error',
        error: 'decoder crashed',
      });
    }
    expect((await call('GET', `/v1/jobs/${jobId}`, acme)).json.state).toBe('failed');
    const before = blobFiles(join(dir(), 'blobs'));

    const other = await cli(['retry', jobId], globex);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/HTTP 404/);

    const retried = await cli(['retry', jobId], acme);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect(retried.stdout).toBe(`${jobId} running\n`);
    expect(blobFiles(join(dir(), 'blobs'))).toEqual(before);

    const again = (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w2' }))
      .json as ClaimResponse;
    expect(again.task).toMatchObject({ jobId, startFrame: 0, nextFrame: 10, epoch: 4 });
    expect(fileURLToPath(again.inputUrl).endsWith(inputKey)).toBe(true);

    // `logs` tells each attempt with its GPU time and cost: the three that failed, and the one running now.
    const logs = await cli(['logs', jobId], acme);
    expect(logs.code).toBe(0);
    const attempts = logs.stdout.split('\n').filter((l) => / attempt \d /.test(l));
    expect(attempts).toHaveLength(4);
    for (const line of attempts)
      expect(line).toMatch(/ \[GPU \d+m\d\ds.*, \$[\d.]+ paid, \$[\d.]+ at on-demand prices\]/);
  });
});
