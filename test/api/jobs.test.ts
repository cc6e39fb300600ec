import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { ApiClient } from '../../src/cli/client/api.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { cfrWithAudio, ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'admin-secret-admin-secret-0123';

describe('tenant job API', () => {
  const dir = useTempDir();
  let store: SqliteStore;
  let blobs: LocalBlobStore;
  let app: FastifyInstance;
  let acme: string;
  let globex: string;
  let worker: string;
  let video: string;

  beforeAll(async () => {
    const root = mkdtempSync(join(tmpdir(), 'spotfuse-jobs-api-'));
    store = new SqliteStore(join(root, 'state.db'));
    blobs = new LocalBlobStore(join(root, 'blobs'));
    const leases = new LeaseService(store, blobs, { leaseTtlMs: 5000, maxAttempts: 3 });
    app = buildApi({
      leases,
      store,
      adminToken: ADMIN,
      jobs: { store, blobs, parallelism: 2, rateLimit: { ratePerSecond: 1000, burst: 1000 } },
      ready: async () => {
        await store.listJobs({ limit: 1 });
      },
    });
    acme = (await issueToken(store, 'tenant', 'acme')).token;
    globex = (await issueToken(store, 'tenant', 'globex')).token;
    worker = (await issueToken(store, 'worker')).token;
    video = await cfrWithAudio(dir());
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

  /** Uploads a local file as a tenant would with a local blob store: copy to the file URL handed out. */
  async function upload(token: string, path: string, name = 'in.mp4', size = statSync(path).size) {
    const res = await call('POST', '/v1/uploads', token, { name, size });
    expect(res.statusCode).toBe(201);
    const { key, url } = res.json() as { key: string; url: string };
    const target = fileURLToPath(url);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(path, target);
    return key;
  }

  it('serves /readyz and an OpenAPI document of the routes without a token', async () => {
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const down = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 1000, maxAttempts: 3 }),
      store,
      ready: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:5432')),
    });
    const notReady = await down.inject({ method: 'GET', url: '/readyz' });
    await down.close();
    expect(notReady.statusCode).toBe(503);
    expect(notReady.body).not.toMatch(/10\.0\.0\.1/);
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}', '/v1/uploads', '/v1/claim', '/v1/tokens']),
    );
    expect(doc.components.schemas.SubmitBody.properties.input).toBeDefined();
  });

  it('hands out upload keys under the tenant prefix only, with a plain name', async () => {
    const res = await call('POST', '/v1/uploads', acme, { name: '../../etc/my video?.mp4', size: 10 });
    expect(res.statusCode).toBe(201);
    expect(res.json().key).toMatch(/^uploads\/acme\/[0-9a-f]{16}-10\/my_video_\.mp4$/);
    expect((await call('POST', '/v1/uploads', worker, { name: 'a.mp4', size: 1 })).statusCode).toBe(403);
    expect((await call('POST', '/v1/uploads', ADMIN, { name: 'a.mp4', size: 1 })).statusCode).toBe(403);
    expect((await call('POST', '/v1/uploads', acme, { name: 'a.mp4', size: -1 })).statusCode).toBe(400);
  });

  it('takes a trim range: the job is its frames, its tasks start at the range, an empty range is a 400', async () => {
    const key = await upload(acme, video);
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      chunkFrames: 30,
      trim: { start: 20, end: 1000 },
    });
    expect(submitted.statusCode).toBe(201);
    const { id } = submitted.json() as { id: string };
    // Clamped as FaceFusion clamps it: frames [20, 90) of the 90.
    expect(submitted.json()).toMatchObject({ frames: 70 });
    expect((await call('GET', `/v1/jobs/${id}`, acme)).json()).toMatchObject({ frames: 70, tasks: 3 });
    expect((await store.listTasks(id)).map((t) => [t.range.start, t.range.end])).toEqual([
      [20, 50],
      [50, 80],
      [80, 90],
    ]);
    const empty = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      trim: { start: 90 },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toBe(
      "--trim-frame-start 90 and --trim-frame-end 90 leave no frame of the video's 90 (frames 0-89)",
    );
    const fraction = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      trim: { end: 2.5 },
    });
    expect(fraction.statusCode).toBe(400);
    await call('POST', `/v1/jobs/${id}/cancel`, acme);
  });

  it('takes encoder.fps (--output-video-fps): tasks start on kept frames, claims say where each frame goes', async () => {
    const key = await upload(acme, video);
    for (const fps of [0.5, 61])
      expect(
        (await call('POST', '/v1/jobs', acme, { input: key, processors: ['passthrough'], encoder: { fps } }))
          .statusCode,
      ).toBe(400);
    // 30 → 12 fps keeps frames 1, 3, 6, 8, 11, … (2 in 5): chunks of 25 move on to frames 26, 51 and 76.
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      chunkFrames: 25,
      encoder: { fps: 12 },
    });
    expect(submitted.statusCode).toBe(201);
    const { id } = submitted.json() as { id: string };
    const ranges = (await store.listTasks(id)).map((t) => [t.range.start, t.range.end]);
    expect(ranges).toEqual([
      [0, 26],
      [26, 51],
      [51, 76],
      [76, 90],
    ]);
    const claims: ClaimResponse[] = [];
    for (let i = 0; i < 4; i++)
      claims.push(
        (
          await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: `fps-${i}` })
        ).json() as ClaimResponse,
      );
    const frames = claims
      .filter((c) => c.task.jobId === id)
      .map((c) => c.outputFrames!)
      .sort((a, b) => a.startFrame - b.startFrame);
    expect(frames.map((f) => [f.fps, f.startFrame, f.slots.length - 1])).toEqual(
      ranges.map(([start, end]) => [12, start, end - start]),
    );
    expect(frames[0].slots.slice(0, 9)).toEqual([0, 0, 1, 1, 2, 2, 2, 3, 3]);
    // Each task's frames end where the next task's begin; the last at 3 s × 12.
    for (let i = 1; i < frames.length; i++) expect(frames[i].slots[0]).toBe(frames[i - 1].slots.at(-1));
    expect(frames.at(-1)!.slots.at(-1)).toBe(36);
    const facefusion = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['face_swapper'],
      encoder: { fps: 12 },
      engine: { name: 'facefusion' },
    });
    expect([facefusion.statusCode, facefusion.json().error]).toEqual([
      400,
      '--output-video-fps needs the native engine',
    ]);
    await call('POST', `/v1/jobs/${id}/cancel`, acme);
  });

  it('submits, lists and reports a job; workers get presigned URLs of its blobs; other tenants get 404', async () => {
    const key = await upload(acme, video);
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      chunkFrames: 30,
      checkpointFrames: 10,
      priority: 'urgent',
    });
    expect(submitted.statusCode).toBe(201);
    const { id } = submitted.json() as { id: string };
    expect(submitted.json()).toMatchObject({ state: 'running', frames: 90 });

    const status = await call('GET', `/v1/jobs/${id}`, acme);
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({ jobId: id, state: 'running', frames: 90, tasks: 3, tasksDone: 0 });
    expect((await call('GET', '/v1/jobs', acme)).json().jobs.map((j: { id: string }) => j.id)).toContain(id);
    expect((await call('GET', '/v1/jobs', globex)).json().jobs).toEqual([]);
    expect((await call('GET', '/v1/jobs', ADMIN)).json().jobs[0]).toMatchObject({ id, tenant: 'acme' });
    for (const path of ['', '/logs', '/download']) {
      expect((await call('GET', `/v1/jobs/${id}${path}`, globex)).statusCode).toBe(404);
    }
    expect((await call('POST', `/v1/jobs/${id}/cancel`, globex)).statusCode).toBe(404);
    expect((await call('GET', `/v1/jobs/${id}`, worker)).statusCode).toBe(403);
    expect((await call('GET', `/v1/jobs/${id}/download`, acme)).statusCode).toBe(409);

    const claim = await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w1' });
    expect(claim.statusCode).toBe(200);
    const body = claim.json() as ClaimResponse;
    expect(body.task.jobId).toBe(id);
    expect(body.spec.input).toBe(`blob:${key}`);
    expect(body.inputUrl).toBe(await blobs.readUrl(key));
    expect((body.spec as unknown as { priority: string }).priority).toBe('urgent');

    const logs = await call('GET', `/v1/jobs/${id}/logs`, acme);
    expect(logs.json().lines[0]).toMatch(/job .* submitted: 90 frames/);
    expect(logs.json().lines[1]).toMatch(/task .* attempt 1 on w1: running/);
    expect(logs.json().lines.join('\n')).not.toMatch(/tok_/);

    // The worker reported no cloud: a local machine, free by default.
    const costed = (await call('GET', `/v1/jobs/${id}?tasks=true`, acme)).json();
    expect(costed.cost).toMatchObject({
      currency: 'USD',
      paid: 0,
      savingPercent: null,
      unpricedGpuSeconds: 0,
    });
    expect(costed.cost.tasks.map((t: { attempts: number }) => t.attempts)).toEqual([1, 0, 0]);
    expect(status.json().cost.tasks).toBeUndefined();
    expect((await call('GET', `/v1/jobs/${id}?tasks=maybe`, acme)).statusCode).toBe(400);

    expect((await call('POST', `/v1/jobs/${id}/cancel`, acme)).json()).toEqual({ id, state: 'canceled' });
    expect((await call('POST', `/v1/jobs/${id}/cancel`, acme)).statusCode).toBe(409);
    expect((await call('GET', `/v1/jobs/${id}`, acme)).json().state).toBe('canceled');
    const heartbeat = await call('POST', `/v1/tasks/${body.task.id}/heartbeat`, worker, {
      epoch: body.task.epoch,
      framesDone: 1,
    });
    expect(heartbeat.statusCode).toBe(409);
    expect(heartbeat.json()).toEqual({ error: 'canceled' });
  });

  it('keeps a deadline with the job and reports it; a deadline in the past or not a time is refused', async () => {
    const key = await upload(acme, video);
    const deadline = new Date(Date.now() + 3_600_000).toISOString();
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      deadline,
    });
    expect(submitted.statusCode).toBe(201);
    const { id } = submitted.json() as { id: string };
    expect((await call('GET', `/v1/jobs/${id}`, acme)).json().deadline).toBe(deadline);
    const past = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      deadline: '2020-01-01T00:00:00Z',
    });
    expect(past.statusCode).toBe(400);
    expect(past.json().error).toBe('deadline 2020-01-01T00:00:00Z is not in the future');
    const notATime = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['passthrough'],
      deadline: '2h',
    });
    expect(notATime.statusCode).toBe(400);
    expect((await call('POST', `/v1/jobs/${id}/cancel`, acme)).statusCode).toBe(200);
  });

  it('refuses blobs of other tenants, bad bodies and inputs that are not videos, in one line', async () => {
    const theirs = await upload(globex, video);
    const res = await call('POST', '/v1/jobs', acme, { input: theirs, processors: ['passthrough'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/not one of your uploads/);
    const mine = await upload(acme, video);
    expect(
      (await call('POST', '/v1/jobs', acme, { input: mine, processors: ['nope'] })).json().error,
    ).toMatch(/unknown processor "nope"/);
    expect((await call('POST', '/v1/jobs', acme, { input: mine, processors: [], x: 1 })).statusCode).toBe(
      400,
    );
    expect(
      (await call('POST', '/v1/jobs', acme, { input: '../x', processors: ['passthrough'] })).statusCode,
    ).toBe(400);
    const text = join(dir(), 'notes.txt');
    writeFileSync(text, 'not a video at all');
    const notVideo = await upload(acme, text, 'notes.mp4');
    const bad = await call('POST', '/v1/jobs', acme, { input: notVideo, processors: ['passthrough'] });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toMatch(/^cannot read video uploads\/acme\/[0-9a-f]+-\d+\/notes\.mp4: /);
    expect(bad.json().error).not.toMatch(/file:|\n/);
  });

  it('refuses a playlist or a concat script as the video in one line, fetching nothing it names', async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(req.url ?? '');
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // A video the server can read, outside the tenant's uploads.
      const outside = join(dir(), 'outside-secret.mp4');
      copyFileSync(video, outside);
      const hls = join(dir(), 'list.m3u8');
      writeFileSync(
        hls,
        `#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n${base}/seg.ts\n#EXTINF:3,\n${pathToFileURL(outside).href}\n#EXT-X-ENDLIST\n`,
      );
      const concat = join(dir(), 'list.ffconcat');
      writeFileSync(concat, `ffconcat version 1.0\nfile '${outside}'\nfile '${base}/seg.ts'\n`);
      for (const [path, name, kind] of [
        [hls, 'list.m3u8', 'an HLS playlist'],
        [concat, 'list.ffconcat', 'a concat script'],
        [concat, 'in.mp4', 'a concat script'],
      ]) {
        const input = await upload(acme, path, name);
        const res = await call('POST', '/v1/jobs', acme, { input, processors: ['passthrough'] });
        expect(res.statusCode).toBe(400);
        expect(res.json().error).toBe(
          `not a video: ${input} (${kind}; spotfuse reads one self-contained video file, not playlists, concat scripts or image sequences)`,
        );
      }
      expect(requests).toEqual([]);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('holds an upload to the size it declared and refuses links out of the upload folder', async () => {
    const small = await upload(acme, video, 'in.mp4', 1);
    const res = await call('POST', '/v1/jobs', acme, { input: small, processors: ['passthrough'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe(
      `upload ${small} holds ${statSync(video).size} bytes, not the 1 declared: upload the file again`,
    );
    const tooBig = await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: 2 * 1024 ** 4 });
    expect(tooBig.statusCode).toBe(413);
    const missing = (await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: 5 })).json().key;
    expect(
      (await call('POST', '/v1/jobs', acme, { input: missing, processors: ['passthrough'] })).json().error,
    ).toBe(`no such upload: ${missing}`);

    // A link at the key, or a linked folder on the way, to a video the server can read elsewhere.
    const declared = statSync(video).size;
    const linked = (await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: declared })).json();
    symlinkSync(video, fileURLToPath(linked.url));
    const linkRes = await call('POST', '/v1/jobs', acme, { input: linked.key, processors: ['passthrough'] });
    expect(linkRes.statusCode).toBe(400);
    expect(linkRes.json().error).toMatch(/is not a plain file in the blob store \(a link or a folder\)$/);
    const viaFolder = (await call('POST', '/v1/uploads', acme, { name: 'in.mp4', size: declared })).json();
    const folder = dirname(fileURLToPath(viaFolder.url));
    const elsewhere = join(dir(), 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    copyFileSync(video, join(elsewhere, 'in.mp4'));
    execFileSync('rmdir', [folder]);
    symlinkSync(elsewhere, folder);
    const folderRes = await call('POST', '/v1/jobs', acme, {
      input: viaFolder.key,
      processors: ['passthrough'],
    });
    expect(folderRes.statusCode).toBe(400);
    expect(folderRes.json().error).toMatch(/not a plain file in the blob store/);
    // Keys the tenant made up (no declared size) are not uploads.
    const madeUp = 'uploads/acme/0123456789abcdef/in.mp4';
    expect(
      (await call('POST', '/v1/jobs', acme, { input: madeUp, processors: ['passthrough'] })).json().error,
    ).toMatch(/^not an upload key/);
  });

  it('takes source faces from uploads and hands workers their URLs; a swap without one is refused', async () => {
    const face = join(dir(), 'face.jpg');
    await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=96x96', '-frames:v', '1', face]);
    const input = await upload(acme, video);
    const noFace = await call('POST', '/v1/jobs', acme, { input, processors: ['face_swapper'] });
    expect(noFace.statusCode).toBe(400);
    expect(noFace.json().error).toMatch(/face_swapper needs a source face image/);
    const source = await upload(acme, face, 'face.jpg');
    const notImage = await call('POST', '/v1/jobs', acme, {
      input,
      sources: [input],
      processors: ['face_swapper'],
    });
    expect(notImage.statusCode).toBe(400);
    // FaceFusion's --output-video-scale: 0.25 to 8 in steps of 0.25.
    const offScale = await call('POST', '/v1/jobs', acme, {
      input,
      sources: [source],
      processors: ['face_swapper'],
      encoder: { scale: 0.3 },
    });
    expect(offScale.statusCode).toBe(400);
    const res = await call('POST', '/v1/jobs', acme, {
      input,
      sources: [source],
      processors: ['face_swapper'],
      face: {
        selector: { mode: 'many' },
        mask: { blur: 0.5 },
        detector: { angles: [0, 180], margin: [0, 0, 0, 25] },
      },
      encoder: { quality: 60, scale: 1.5 },
    });
    expect(res.statusCode).toBe(201);
    const claim = (
      await call('POST', '/v1/claim', worker, { protocol: LEASE_PROTOCOL, workerId: 'w2' })
    ).json() as ClaimResponse;
    expect(claim.task.jobId).toBe(res.json().id);
    expect(claim.spec.sources).toEqual([await blobs.readUrl(source)]);
    expect(claim.spec.face.selector).toMatchObject({ mode: 'many', order: 'large-small' });
    expect(claim.spec.face.mask).toMatchObject({ blur: 0.5, types: ['box'] });
    expect(claim.spec.face.detector).toEqual({
      model: 'yolo_face',
      size: '640x640',
      minScore: 0.5,
      angles: [0, 180],
      margin: [0, 0, 0, 25],
    });
    expect(claim.spec.encoder).toEqual({ encoder: 'libx264', quality: 60, preset: 'veryfast', scale: 1.5 });
  });

  it('rate-limits each tenant token (429 with Retry-After)', async () => {
    const limited = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 1000, maxAttempts: 3 }),
      store,
      jobs: { store, blobs, rateLimit: { ratePerSecond: 0.1, burst: 2 } },
    });
    try {
      const get = (token: string) =>
        limited.inject({ method: 'GET', url: '/v1/jobs', headers: { authorization: `Bearer ${token}` } });
      expect((await get(acme)).statusCode).toBe(200);
      expect((await get(acme)).statusCode).toBe(200);
      const third = await get(acme);
      expect(third.statusCode).toBe(429);
      expect(Number(third.headers['retry-after'])).toBeGreaterThan(0);
      expect((await get(globex)).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('the client waits out a 429 and tries again', async () => {
    const limited = buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 1000, maxAttempts: 3 }),
      store,
      jobs: { store, blobs, rateLimit: { ratePerSecond: 1, burst: 1 } },
    });
    try {
      const client = new ApiClient({
        server: await limited.listen({ host: '127.0.0.1', port: 0 }),
        token: acme,
      });
      const started = Date.now();
      await client.request('GET', '/v1/jobs');
      const { jobs } = await client.request<{ jobs: unknown[] }>('GET', '/v1/jobs');
      expect(Array.isArray(jobs)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      await expect(client.request('GET', '/v1/jobs/job_missing')).rejects.toThrow(
        /^no such job \(HTTP 404\)$/,
      );
    } finally {
      await limited.close();
    }
  });

  it("queues a job for the workers' own FaceFusion with its options, and refuses options spotfuse sets itself", async () => {
    const key = await upload(acme, video);
    const submitted = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['face_debugger', 'age_modifier'],
      engine: {
        name: 'facefusion',
        args: ['--face-debugger-items', 'bounding-box'],
        config: '[execution]\n',
      },
    });
    expect(submitted.statusCode).toBe(201);
    const job = await store.getJob((submitted.json() as { id: string }).id);
    expect(job?.spec).toMatchObject({
      processors: ['face_debugger', 'age_modifier'],
      face: {},
      engine: {
        name: 'facefusion',
        args: ['--face-debugger-items', 'bounding-box'],
        config: '[execution]\n',
      },
    });
    // FaceFusion tasks are sized like checkpoints; this 90-frame video fits one.
    expect(submitted.json()).toMatchObject({ frames: 90 });

    const refused = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['face_swapper'],
      engine: { name: 'facefusion', args: ['--trim-frame-end', '10'] },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe(
      '--facefusion-args may not set --trim-frame-end: each task sets its own frame range',
    );
    const withFaceOptions = await call('POST', '/v1/jobs', acme, {
      input: key,
      processors: ['face_swapper'],
      face: { swapper: { model: 'inswapper_128' } },
      engine: { name: 'facefusion' },
    });
    expect(withFaceOptions.statusCode).toBe(400);
    expect(withFaceOptions.json().error).toMatch(/takes FaceFusion's options \(engine.args\)/);
  });
});
