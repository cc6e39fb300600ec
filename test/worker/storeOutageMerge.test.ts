import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { S3BlobStore } from '../../src/blob/s3BlobStore.js';
import { blobRef, LeaseService } from '../../src/coordinator/leaseService.js';
import { probeVideo, splitProbe } from '../../src/media/probe.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_EXECUTION } from '../../src/vision/faceOptions.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runWorker } from '../../src/worker/workerLoop.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { cfrWithAudio, probeFramesPts } from '../fixtures/videos.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * An object store that goes away during a merge: a proxy in front of a real S3 API server resets the
 * connections of chosen requests (before any answer, or halfway through the body), the way a store that
 * goes down does. The merge must be run again from the store-retry loop, not counted as a failure.
 */

const PREFIX = 'outage';
const tmp = useTempDir();
let s3: S3Harness;
let proxy: Server;
/** Decides, per request, whether the proxy resets it: 'before' any answer, 'mid-body', or passes it. */
let fault: (req: IncomingMessage) => 'before' | 'mid-body' | undefined = () => undefined;

beforeAll(async () => {
  s3 = await startS3(join(tmp(), 's3rver'));
  const target = new URL(s3.endpoint);
  proxy = createServer((req, res) => {
    const kind = fault(req);
    if (kind === 'before') return void req.socket.resetAndDestroy();
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (kind !== 'mid-body') return void answer.pipe(res);
        // Half the body reaches the client, then the connection closes.
        const half = Math.floor(Number(answer.headers['content-length']) / 2);
        const body: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => body.push(chunk));
        answer.on('end', () => res.write(Buffer.concat(body).subarray(0, half), () => res.socket?.destroy()));
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => proxy?.close(resolve));
  await s3?.close();
});

/** A job of two chunks of a video with two audio tracks, stored behind the proxy, and a worker for it. */
async function setUp(name: string) {
  const video = await cfrWithAudio(tmp());
  const { probe, framePts } = splitProbe(await probeVideo(video));
  await s3.client.send(
    new PutObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/in.mp4`, Body: await readFile(video) }),
  );
  const blobs = new S3BlobStore(`s3://${s3.bucket}/${PREFIX}`, {
    ...s3.options,
    endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
  });
  const store = new SqliteStore(join(tmp(), `${name}.db`));
  const leases = new LeaseService(store, blobs, {
    leaseTtlMs: 60_000,
    maxAttempts: 3,
    logger: pino({ level: 'silent' }),
  });
  const app = buildApi({ leases, workerToken: 'secret' });
  const client = new LeaseClient(await app.listen({ host: '127.0.0.1', port: 0 }), 'secret');
  const half = Math.floor(framePts.length / 2);
  const output = `outputs/${name}.mp4`;
  const job = await store.createJob(
    {
      key: name,
      spec: { ...passthroughSpec, input: blobRef('in.mp4'), output: blobRef(output) },
      probe,
      framePts,
      chunks: [
        { start: 0, end: half },
        { start: half, end: framePts.length },
      ],
    },
    Date.now(),
  );
  const lines: string[] = [];
  const notice = new PreemptionNotice();
  const work = () =>
    runWorker({
      client,
      workerId: name,
      pool: 'spot',
      workDir: join(tmp(), name),
      notice,
      models: { dir: join(tmp(), 'models'), catalog: new Map() },
      execution: DEFAULT_EXECUTION,
      maxTasks: 3,
      instanceWaitMs: 0,
      log: (message) => lines.push(message),
    });
  const close = async () => {
    fault = () => undefined;
    await app.close();
    await store.close();
    blobs.close();
  };
  return { store, job, framePts, output, notice, work, lines, close };
}

/** A fault for each key the first time only; `failed` has the keys used. */
function faultsOnce() {
  const failed = new Set<string>();
  const once = (key: string, kind: 'before' | 'mid-body') => {
    if (failed.has(key)) return undefined;
    failed.add(key);
    return kind;
  };
  return { failed, once };
}

const pathOf = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://loopback').pathname;
const segmentGet = (req: IncomingMessage) => req.method === 'GET' && /\/segments\//.test(pathOf(req));

it('runs a merge again when the object store resets its connections, and completes the job', async () => {
  const { store, job, framePts, output, work, lines, close } = await setUp('outage');
  try {
    // Once the segments are stored, each of the merge's requests fails once: a segment download cut off
    // halfway, ffmpeg's read of the source audio, and the output upload.
    const { failed, once } = faultsOnce();
    fault = (req) => {
      if (segmentGet(req)) return once('segment', 'mid-body');
      if (req.method === 'GET' && pathOf(req).endsWith('/in.mp4') && failed.has('segment'))
        return once('input', 'before');
      if (req.method === 'PUT' && pathOf(req).endsWith(output)) return once('output', 'before');
      return undefined;
    };
    const summary = await work();
    expect(summary, lines.join('\n')).toEqual({ completed: 3, preempted: 0, failed: 0, lost: 0 });
    expect([...failed].sort()).toEqual(['input', 'output', 'segment']);
    expect(lines.filter((l) => l.startsWith('object store unreachable'))).toHaveLength(3);
    const tasks = await store.listTasks(job.id);
    expect(tasks.map((t) => [t.state, t.failures])).toEqual(tasks.map(() => ['done', 0]));
    const stored = await s3.client.send(
      new GetObjectCommand({ Bucket: s3.bucket, Key: `${PREFIX}/${output}` }),
    );
    const merged = join(tmp(), 'merged.mp4');
    await writeFile(
      merged,
      await (stored.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    expect(await probeFramesPts(merged)).toHaveLength(framePts.length);
  } finally {
    await close();
  }
}, 120_000);

it('releases the merge as preempted when the notice comes while the object store is out of reach', async () => {
  const { store, job, notice, work, lines, close } = await setUp('preempted');
  try {
    const { once } = faultsOnce();
    fault = (req) => {
      if (!segmentGet(req)) return undefined;
      notice.trigger('test');
      return once('segment', 'mid-body');
    };
    const summary = await work();
    expect(summary, lines.join('\n')).toEqual({ completed: 2, preempted: 1, failed: 0, lost: 0 });
    const merge = (await store.listTasks(job.id)).find((t) => t.kind === 'merge');
    expect(merge).toMatchObject({ state: 'pending', failures: 0, preemptions: 1 });
    const attempts = await store.listAttempts(job.id);
    expect(attempts.map((a) => a.outcome)).toEqual(['completed', 'completed', 'preempted']);
  } finally {
    await close();
  }
}, 120_000);
