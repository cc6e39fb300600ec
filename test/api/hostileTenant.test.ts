import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { hashToken, issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { Metrics } from '../../src/coordinator/metrics.js';
import type { JobSpec, NotifySpec } from '../../src/core/types.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import type { Store } from '../../src/store/store.js';
import { faceOptionsFor } from '../../src/vision/faceOptionGroups.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';
import { backends, type OpenedStore } from '../helpers/storeBackends.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * What a tenant (or a worker) can do to the server with hostile input: text the database cannot keep, a row
 * that slipped in anyway, calls on other workers' leases, and what the unauthenticated /metrics tells.
 */
const ADMIN = 'admin-secret-that-is-long-enough-0123456789';
const NUL_AND_LONE_SURROGATE = 'contains a NUL character or a lone surrogate';

const spec = (extra: Record<string, unknown> = {}): JobSpec => ({
  input: '/videos/in.mp4',
  sources: [],
  output: '/videos/out.mp4',
  processors: ['passthrough'],
  face: DEFAULT_FACE_OPTIONS,
  encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
  checkpointFrames: 10,
  ...extra,
});

const dir = useTempDir();
let video: string;
beforeAll(async () => {
  video = await cfrWithAudio(dir());
});

for (const backend of backends) {
  const title = `hostile input on ${backend.name}${backend.skip ? ` (skipped: ${backend.skip})` : ''}`;
  describe.skipIf(backend.skip !== undefined)(title, () => {
    let opened: OpenedStore;
    let store: Store;
    let app: FastifyInstance;
    let leases: LeaseService;
    let logLines: Record<string, unknown>[];
    let acme: string;
    let worker: string;
    let otherWorker: string;

    beforeEach(async () => {
      opened = await backend.open();
      store = opened.store;
      const root = mkdtempSync(join(tmpdir(), 'spotfuse-hostile-'));
      const blobs = new LocalBlobStore(join(root, 'blobs'));
      logLines = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line)) });
      const metrics = new Metrics({ store });
      leases = new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3, metrics, logger });
      app = buildApi({
        leases,
        store,
        adminToken: ADMIN,
        metrics,
        logger,
        jobs: {
          store,
          blobs,
          parallelism: 2,
          email: true,
          rateLimit: { ratePerSecond: 1000, burst: 1000 },
        },
      });
      acme = (await issueToken(store, 'tenant', 'acme')).token;
      worker = (await issueToken(store, 'worker')).token;
      otherWorker = (await issueToken(store, 'worker')).token;
    });
    afterEach(async () => {
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

    const tokenId = async (token: string) => (await store.findTokenByHash(hashToken(token)))?.id;

    async function upload(): Promise<string> {
      const res = await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: statSync(video).size });
      expect(res.statusCode).toBe(201);
      const { key, url } = res.json() as { key: string; url: string };
      const target = fileURLToPath(url);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(video, target);
      return key;
    }

    function newJob(notify?: NotifySpec, priority = 'normal') {
      return store.createJob(
        {
          key: 'k',
          spec: spec({ priority, ...(notify ? { notify } : {}) }),
          probe: { video: { timeBase: { num: 1, den: 30 }, lastFrameDurationTicks: 1 } },
          framePts: Array.from({ length: 10 }, (_, i) => i),
          chunks: [{ start: 0, end: 10 }],
          tenant: 'acme',
        },
        1000,
      );
    }

    it('refuses a NUL or a lone surrogate in any string field with a 400 naming the field', async () => {
      const input = await upload();
      const submits: [Record<string, unknown>, string][] = [
        [{ webhooks: ['https://example.com/hook\u0000'] }, 'webhooks.0'],
        [{ emails: ['ops\ud800@example.com'] }, 'emails.0'],
        [{ encoder: { encoder: 'libx264\u0000' } }, 'encoder.encoder'],
        [{ processors: ['passthrough\udc00'] }, 'processors.0'],
        [
          { face: { detector: { size: '640x640\u0000' } }, processors: ['face_enhancer'] },
          'face.detector.size',
        ],
      ];
      for (const [extra, field] of submits) {
        const r = await call('POST', '/v1/jobs', acme, { input, processors: ['passthrough'], ...extra });
        expect(r.statusCode, field).toBe(400);
        expect(r.json(), field).toEqual({
          error: 'invalid request',
          issues: [`${field}: ${NUL_AND_LONE_SURROGATE}`],
        });
      }
      expect(await store.listJobs()).toEqual([]);

      const upload0 = await call('POST', '/v1/uploads', acme, { name: 'a\u0000.mp4', size: 1 });
      expect(upload0.json().issues).toEqual([`name: ${NUL_AND_LONE_SURROGATE}`]);
      // Workers too: a worker id that PostgreSQL cannot store was a 500.
      const claim = await call('POST', '/v1/claim', worker, {
        protocol: LEASE_PROTOCOL,
        workerId: 'gpu\u0000',
      });
      expect(claim.statusCode).toBe(400);
      expect(claim.json().issues).toEqual([`workerId: ${NUL_AND_LONE_SURROGATE}`]);
      const release = await call('POST', '/v1/tasks/x/release', worker, {
        epoch: 1,
        reason: 'error',
        error: 'bad \ud800',
      });
      expect(release.json().issues).toEqual([`error: ${NUL_AND_LONE_SURROGATE}`]);
      // Ids in the path, as in the body.
      expect(
        (await call('POST', '/v1/tasks/%00/heartbeat', worker, { epoch: 1, framesDone: 0 })).json(),
      ).toEqual({ error: 'invalid request', issues: [`id: ${NUL_AND_LONE_SURROGATE}`] });
      expect((await call('GET', '/v1/jobs/job%00', acme)).statusCode).toBe(400);
      // And a number past PostgreSQL's integer is a 400, not a failed statement.
      const heartbeat = await call('POST', '/v1/tasks/x/heartbeat', worker, {
        epoch: 1,
        framesDone: 2 ** 31,
      });
      expect(heartbeat.json().issues).toEqual([expect.stringMatching(/^framesDone: Too big/)]);
      // The same fields with storable text pass the check (and meet the next one).
      const fine = await call('POST', '/v1/jobs', acme, {
        input,
        processors: ['passthrough'],
        webhooks: ['https://example.com/hook?e=\u00e9\u{1f600}'],
      });
      expect(fine.statusCode).toBe(201);
    });

    it('keeps claims and queue gauges working with a job spec the database cannot evaluate', async () => {
      const normal = await newJob();
      const bad = await newJob(undefined, 'urgent');
      // A spec that slipped in before the API checked its text: JSON.stringify writes \u0000 and \ud800 as
      // escapes that PostgreSQL's JSON operators refuse ("unsupported Unicode escape sequence").
      const text = JSON.stringify(
        spec({
          priority: 'urgent',
          notify: { webhooks: ['https://example.com/\u0000'], emails: ['x\ud800@example.com'], events: [] },
        }),
      );
      expect(text).toContain('\\u0000');
      await opened.sql(`UPDATE jobs SET spec = '${text.replaceAll("'", "''")}' WHERE id = '${bad.id}'`);

      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      const samples = parseExposition(metrics.body);
      expect(sampleValue(samples, 'spotfuse_queue_depth', { pool: 'spot', priority: 'urgent' })).toBe(1);
      expect(sampleValue(samples, 'spotfuse_queue_depth', { pool: 'spot', priority: 'normal' })).toBe(1);

      const first = await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' });
      expect(first.statusCode).toBe(200);
      // Urgent first: the priority lives in its own column, not in the spec the claim cannot read.
      expect((first.json() as ClaimResponse).task.jobId).toBe(bad.id);
      const second = await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w2' });
      expect(second.statusCode).toBe(200);
      expect((second.json() as ClaimResponse).task.jobId).toBe(normal.id);
      expect(
        (await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w3' })).statusCode,
      ).toBe(204);
      // The notification sweep lists the job too, instead of failing for every job.
      expect((await store.listNotifyingJobs()).map((j) => j.id)).toEqual([bad.id]);
    });

    it('answers 409 to a worker completing a task another worker finished, and logs it as the caller', async () => {
      await newJob();
      const claim = (
        await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' })
      ).json() as ClaimResponse;
      const id = claim.task.id;
      const { key } = (
        await call('POST', `/v1/tasks/${id}/segment-url`, worker, { epoch: 1, startFrame: 0 })
      ).json() as { key: string };
      const segment = { epoch: 1, startFrame: 0, endFrame: 10, key };
      expect((await call('POST', `/v1/tasks/${id}/checkpoint`, worker, segment)).statusCode).toBe(200);
      expect((await call('POST', `/v1/tasks/${id}/complete`, worker, { epoch: 1 })).statusCode).toBe(200);

      const intruder = await call('POST', `/v1/tasks/${id}/complete`, otherWorker, { epoch: 1 });
      expect(intruder.statusCode).toBe(409);
      expect(intruder.json()).toEqual({ error: 'stale' });
      // The holder's retry stays idempotent.
      expect((await call('POST', `/v1/tasks/${id}/complete`, worker, { epoch: 1 })).json()).toEqual({
        ok: true,
      });

      const [holderToken, intruderToken] = [await tokenId(worker), await tokenId(otherWorker)];
      const refused = logLines.filter((l) => /refused/.test(String(l.msg)));
      expect(refused).toEqual([
        expect.objectContaining({
          msg: 'complete refused: not the lease holder',
          taskId: id,
          epoch: 1,
          workerId: intruderToken,
        }),
      ]);
      expect(JSON.stringify(refused)).not.toContain(holderToken);
    });

    it('logs a call on an expired lease as its caller, not as the worker that held it', async () => {
      await newJob();
      const claim = (
        await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' })
      ).json() as ClaimResponse;
      await store.expireLeases(Date.now() + 120_000);
      // The task is pending again; another worker presents the old epoch.
      const r = await call('POST', `/v1/tasks/${claim.task.id}/heartbeat`, otherWorker, {
        epoch: 1,
        framesDone: 1,
      });
      expect(r.statusCode).toBe(409);
      const admin = await call('POST', `/v1/tasks/${claim.task.id}/heartbeat`, ADMIN, {
        epoch: 1,
        framesDone: 1,
      });
      expect(admin.statusCode).toBe(409);
      const [holderToken, intruderToken] = [await tokenId(worker), await tokenId(otherWorker)];
      const refused = logLines.filter((l) => /refused/.test(String(l.msg)));
      expect(refused.map((l) => [l.msg, l.workerId])).toEqual([
        ['heartbeat refused: not the lease holder', intruderToken],
        ['heartbeat refused: stale', 'admin'],
      ]);
      expect(JSON.stringify(refused)).not.toContain(holderToken);
    });

    it('hands workers no notification targets, and labels /metrics by worker name, never by token id', async () => {
      await newJob({ webhooks: ['https://hooks.example.com/acme'], emails: ['ops@example.com'], events: [] });
      const r = await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'gpu-1' });
      const claim = r.json() as ClaimResponse;
      expect(claim.spec).not.toHaveProperty('notify');
      expect(r.body).not.toContain('hooks.example.com');
      expect(r.body).not.toContain('ops@example.com');
      // The coordinator still knows whom to tell.
      expect((await store.getJob(claim.task.jobId))?.spec.notify?.webhooks).toEqual([
        'https://hooks.example.com/acme',
      ]);

      const beat = { epoch: claim.task.epoch, framesDone: 5, fps: 7.5 };
      expect((await call('POST', `/v1/tasks/${claim.task.id}/heartbeat`, worker, beat)).statusCode).toBe(200);
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(sampleValue(parseExposition(text), 'spotfuse_worker_fps', { worker: 'gpu-1' })).toBe(7.5);
      expect(text).not.toMatch(/tok_/);
    });

    it('answers a revoked token exactly as one that never existed', async () => {
      const issued = await call('POST', '/v1/tokens', ADMIN, { role: 'worker' });
      const { id, token } = issued.json() as { id: string; token: string };
      expect(
        (
          await app.inject({
            method: 'DELETE',
            url: `/v1/tokens/${id}`,
            headers: { authorization: `Bearer ${ADMIN}` },
          })
        ).statusCode,
      ).toBe(204);
      const revoked = await call('POST', '/v1/claim', token, { protocol: LEASE_PROTOCOL, workerId: 'w' });
      const unknown = await call('POST', '/v1/claim', `${token.slice(0, -4)}AAAA`, {
        protocol: LEASE_PROTOCOL,
        workerId: 'w',
      });
      expect(revoked.statusCode).toBe(401);
      expect([revoked.statusCode, revoked.body]).toEqual([unknown.statusCode, unknown.body]);
    });

    it('refuses options of processors not in the chain and reference frames outside the video', async () => {
      const input = await upload();
      const submit = (body: Record<string, unknown>) => call('POST', '/v1/jobs', acme, { input, ...body });
      const unused = await submit({
        processors: ['passthrough'],
        face: { swapper: { model: 'inswapper_128' }, mask: { blur: 0.5 } },
      });
      expect(unused.statusCode).toBe(400);
      expect(unused.json().error).toBe(
        'options for processors not in the chain (passthrough): face.mask (face_swapper, face_enhancer or face_debugger), ' +
          'face.swapper (face_swapper)',
      );
      const badItem = await submit({ processors: ['face_debugger'], face: { debugger: { items: ['age'] } } });
      expect(badItem.statusCode).toBe(400);
      expect(badItem.json().error).toMatch(/^unknown face debugger item "age" \(available: bounding-box, /);
      const enhancerOnly = await submit({
        processors: ['face_enhancer'],
        face: { frameEnhancer: { blend: 50 } },
      });
      expect(enhancerOnly.json().error).toMatch(/: face\.frameEnhancer \(frame_enhancer\)$/);
      const tilted = await submit({ processors: ['face_enhancer'], face: { detector: { angles: [0, 45] } } });
      expect(tilted.statusCode).toBe(400);
      expect(tilted.json().issues).toEqual([expect.stringMatching(/^face\.detector\.angles\.1: /)]);
      const wideMargin = await submit({
        processors: ['face_enhancer'],
        face: { detector: { margin: [0, 0, 0, 101] } },
      });
      expect(wideMargin.statusCode).toBe(400);
      expect(wideMargin.json().issues).toEqual([expect.stringMatching(/^face\.detector\.margin\.3: /)]);

      const huge = await submit({
        processors: ['face_enhancer'],
        face: { selector: { referenceFrame: 1e15 } },
      });
      expect(huge.statusCode).toBe(400);
      expect(huge.json().issues).toEqual([expect.stringMatching(/^face\.selector\.referenceFrame: Too big/)]);
      const past = await submit({
        processors: ['face_enhancer'],
        face: { selector: { referenceFrame: 90 } },
      });
      expect(past.statusCode).toBe(400);
      expect(past.json().error).toBe('reference frame 90 is not a frame of the video (frames 0-89)');
      expect(await store.listJobs()).toEqual([]);

      const last = await submit({
        processors: ['face_enhancer'],
        face: { selector: { referenceFrame: 89 } },
      });
      expect(last.statusCode).toBe(201);
    });
  });
}

describe('server errors', () => {
  const sqlite = backends[0];

  it('logs every 5xx with its request id, which the answer carries', async () => {
    const { store } = await sqlite.open();
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const leases = new LeaseService(store, new LocalBlobStore(mkdtempSync(join(tmpdir(), 'spotfuse-5xx-'))), {
      leaseTtlMs: 1000,
      maxAttempts: 3,
    });
    vi.spyOn(leases, 'claim').mockRejectedValue(new Error('connection terminated unexpectedly'));
    const app = buildApi({ leases, store, adminToken: ADMIN, logger });
    try {
      const answers = [];
      for (let i = 0; i < 2; i++) {
        answers.push(
          await app.inject({
            method: 'POST',
            url: '/v1/claim',
            headers: { authorization: `Bearer ${ADMIN}` },
            payload: { protocol: LEASE_PROTOCOL, workerId: 'w' },
          }),
        );
      }
      const ids = answers.map((a) => a.json().requestId as string);
      for (const a of answers) {
        expect(a.statusCode).toBe(500);
        expect(a.json()).toEqual({ error: 'internal error', requestId: expect.any(String) });
        expect(a.body).not.toContain('connection terminated');
      }
      expect(new Set(ids).size).toBe(2);
      expect(
        lines.map((l) => [l.level, l.reqId, l.statusCode, (l.err as { message: string }).message]),
      ).toEqual(ids.map((id) => [50, id, 500, 'connection terminated unexpectedly']));
      expect(lines[0].msg).toBe('POST /v1/claim failed with 500');
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('request schemas', () => {
  it('build every string from the one storable-text schema', () => {
    for (const folder of ['api', 'protocol']) {
      const dir = fileURLToPath(new URL(`../../src/${folder}/`, import.meta.url));
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'textSchema.ts')) {
        expect(readFileSync(join(dir, file), 'utf8'), file).not.toMatch(/\bz\s*\.\s*string\s*\(/);
      }
    }
  });

  it('let a client send only the face options its chain reads', () => {
    expect(faceOptionsFor(['passthrough'], DEFAULT_FACE_OPTIONS)).toEqual({});
    expect(
      Object.keys(faceOptionsFor(['face_swapper', 'frame_enhancer'], DEFAULT_FACE_OPTIONS)).sort(),
    ).toEqual(['detector', 'frameEnhancer', 'landmarker', 'landmarkerScore', 'mask', 'selector', 'swapper']);
  });
});
