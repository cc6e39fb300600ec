import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { PREEMPTED_EXIT_CODE } from '../../src/worker/preemption.js';
import { type S3Harness, startS3 } from '../blob/s3Harness.js';
import { cfrWithAudio, ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import type { StartedCli } from '../helpers/cli.js';
import {
  clientCli,
  listeningAddress,
  type ServerConfig,
  startServer as startClusterServer,
  startWorker as startClusterWorker,
  stopProcess,
} from '../helpers/cluster.js';
import { useTempDir } from '../helpers/tempDir.js';
import { createTestDatabase } from '../store/postgresTestDb.js';

const ADMIN = 'cluster-test-admin-token-0123456789';
const PREFIX = 'cluster';

const pgDb = await createTestDatabase();
const skip = 'unavailable' in pgDb ? pgDb.unavailable : undefined;

async function expectSameTimeline(a: string, b: string): Promise<void> {
  const [x, y] = await Promise.all([probeFramesPts(a), probeFramesPts(b)]);
  expect(y.length).toBe(x.length);
  expect(Math.max(...x.map((t, i) => Math.abs(t - y[i])))).toBeLessThan(0.001);
}

describe.skipIf(skip !== undefined)(
  `spotfuse server + workers + client (cluster)${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    const dir = useTempDir();
    let s3: S3Harness;
    let server: StartedCli | undefined;
    /** A second coordinator replica on the same database and bucket. */
    let second: StartedCli | undefined;
    let secondAddress = '';
    let address = '';
    const workers: StartedCli[] = [];
    let workerToken = '';
    let workerTokenId = '';
    let acme = '';
    let globex = '';

    const dbUrl = () => ('url' in pgDb ? pgDb.url : '');

    const config = (): ServerConfig => ({
      cwd: dir(),
      db: dbUrl(),
      s3Endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix: PREFIX,
      adminToken: ADMIN,
      args: ['--lease-ttl', '3', '--multipart-threshold', '100000'],
    });

    /** Configured by flags, or (`viaEnv`) by the SPOTFUSE_* environment, as a container would be. */
    async function startServer(listen: string, viaEnv = false, replica = false): Promise<string> {
      const started = startClusterServer(config(), listen, viaEnv);
      if (replica) second = started;
      else server = started;
      return listeningAddress(started);
    }

    const cli = (args: string[], token: string) => clientCli(dir(), address, args, token);

    function startWorker(name: string, coordinator = address): StartedCli {
      const w = startClusterWorker(dir(), name, coordinator, workerToken, join(dir(), 'work'));
      workers.push(w);
      return w;
    }

    beforeAll(async () => {
      s3 = await startS3(join(dir(), 's3'));
      // Two replicas start at once on a fresh database: the migrations run once, under the advisory lock.
      [address, secondAddress] = await Promise.all([
        startServer('127.0.0.1:0'),
        startServer('127.0.0.1:0', false, true),
      ]);
      const worker = await cli(['tokens', 'create', '--role', 'worker'], ADMIN);
      expect(worker.code).toBe(0);
      workerToken = worker.stdout.trim();
      workerTokenId = /token id (tok_[0-9a-f]+)/.exec(worker.stderr)?.[1] ?? '';
      acme = (await cli(['tokens', 'create', '--role', 'tenant', '--tenant', 'acme'], ADMIN)).stdout.trim();
      globex = (
        await cli(['tokens', 'create', '--role', 'tenant', '--tenant', 'globex'], ADMIN)
      ).stdout.trim();
      expect(workerToken).toMatch(/^sf_w_/);
      expect(acme).toMatch(/^sf_t_/);
      // The first fleet is split over both replicas; each replica also runs the lease sweeps.
      for (const name of ['w1', 'w2', 'w3']) startWorker(name, name === 'w2' ? secondAddress : address);
    });

    afterAll(async () => {
      await Promise.all(workers.map((w) => stopProcess(w, 'SIGKILL')));
      await stopProcess(server);
      await stopProcess(second);
      await s3?.close();
      if ('url' in pgDb) await pgDb.drop();
    });

    it('runs a tenant job on three workers over PostgreSQL and S3: same frames and timestamps as embedded mode', async () => {
      const input = await cfrWithAudio(dir());
      const submit = await cli(
        [
          'submit',
          '-t',
          input,
          '--processors',
          'passthrough',
          '--chunk-frames',
          '25',
          '--checkpoint-frames',
          '10',
        ],
        acme,
      );
      expect(submit.stderr).toBe('');
      expect(submit.code).toBe(0);
      const id = submit.stdout.trim();
      expect(id).toMatch(/^job_[0-9a-f]+$/);
      // The video went up in parts, straight to the object store.
      expect(s3.requests.some((r) => r.method === 'PUT' && r.query.has('partNumber'))).toBe(true);

      const status = await cli(['status', id, '--watch', '--json', '--interval', '0.3'], acme);
      expect(status.code).toBe(0);
      const report = JSON.parse(status.stdout);
      expect(report).toMatchObject({
        jobId: id,
        state: 'completed',
        frames: 90,
        tasks: 4,
        tasksDone: 4,
        failures: 0,
      });
      // The workers run on no cloud: their GPU time is priced at the server's local price.
      expect(report.cost.gpuSeconds).toBeGreaterThan(0);
      expect(report.cost.paid).toBeCloseTo((report.cost.gpuSeconds / 3600) * 0.5, 4);

      const output = join(dir(), 'cluster.mp4');
      const download = await cli(['download', id, '-o', output], acme);
      expect(download.stderr).toBe('');
      expect(download.code).toBe(0);
      await expectSameTimeline(input, output);
      const audio = (await probeStreams(output)).filter((s) => s.codec_type === 'audio');
      expect(audio).toHaveLength(2);
      // Above --multipart-threshold, the merged output went up in parts through the merge task's lease.
      expect((await stat(output)).size).toBeGreaterThan(100_000);
      expect(
        s3.requests.some(
          (r) =>
            r.method === 'PUT' &&
            r.path.includes('/outputs/') &&
            r.query.has('partNumber') &&
            r.status === 200,
        ),
      ).toBe(true);

      const embedded = join(dir(), 'embedded.mp4');
      const run = await cli(
        [
          'run',
          '-t',
          input,
          '-o',
          embedded,
          '--processors',
          'passthrough',
          '--workers',
          '2',
          '--chunk-frames',
          '25',
          '--checkpoint-frames',
          '10',
          '--state-dir',
          join(dir(), 'embedded-state'),
          '-q',
        ],
        '',
      );
      expect(run.code).toBe(0);
      await expectSameTimeline(embedded, output);

      // Segments are deleted once the output holds every frame.
      const left = await s3.client.send(
        new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${PREFIX}/jobs/${id}/segments/` }),
      );
      expect(left.KeyCount ?? 0).toBe(0);

      const list = await cli(['list'], acme);
      expect(list.stdout).toContain(id);
      const logs = await cli(['logs', id], acme);
      expect(logs.code).toBe(0);
      expect(logs.stdout).toMatch(/job completed/);

      const other = await cli(['status', id], globex);
      expect(other.code).not.toBe(0);
      expect(other.stderr.trim().split('\n')).toHaveLength(1);
      expect(other.stderr).toMatch(/no such job \(HTTP 404\)/);
      expect((await cli(['download', id, '-o', join(dir(), 'x.mp4')], globex)).code).not.toBe(0);
      expect((await cli(['list'], globex)).stdout).not.toContain(id);

      // `run --server` is submit + wait + download in one command, with the run's own options.
      const viaRun = join(dir(), 'via-run.mp4');
      const remote = await cli(
        ['run', '-t', input, '-o', viaRun, '--processors', 'passthrough', '--chunk-frames', '25'].concat([
          '--server',
          address,
          '-q',
        ]),
        acme,
      );
      expect(remote.stderr).toBe('');
      expect(remote.code).toBe(0);
      await expectSameTimeline(input, viaRun);

      expect((await cli(['tokens', 'revoke', workerTokenId], ADMIN)).code).toBe(0);
      const claim = await fetch(new URL('/v1/claim', address), {
        method: 'POST',
        headers: { authorization: `Bearer ${workerToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ protocol: LEASE_PROTOCOL, workerId: 'x' }),
      });
      expect(claim.status).toBe(401);
      expect(await claim.json()).toEqual({ error: 'invalid token' });
    });

    it('serves /healthz, /readyz, /openapi.json and /metrics; logs lease events per task; refuses bad tokens in one line', async () => {
      expect((await fetch(new URL('/healthz', address))).status).toBe(200);
      expect((await fetch(new URL('/readyz', address))).status).toBe(200);
      expect((await fetch(new URL('/readyz', secondAddress))).status).toBe(200);
      const doc = await (await fetch(new URL('/openapi.json', address))).json();
      expect(doc.paths['/v1/jobs']).toBeDefined();
      // Both replicas serve /metrics without a token; the tenant job above ran on both.
      const scrapes = await Promise.all(
        [address, secondAddress].map(async (a) => (await fetch(new URL('/metrics', a))).text()),
      );
      let completed = 0;
      for (const text of scrapes) {
        expect(text).toMatch(/^spotfuse_queue_depth\{pool="spot",priority="normal"\} \d+$/m);
        completed += Number(/^spotfuse_tasks_completed_total\{kind="process"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      }
      expect(completed).toBeGreaterThan(0);
      // Every line of the coordinator's log about a task says which job, task, worker and lease epoch.
      const taskLines = (server?.stderr() ?? '')
        .split('\n')
        .filter((line) => line.includes('"taskId"'))
        .map((line) => JSON.parse(line));
      expect(taskLines.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['claimed process task', 'task completed']),
      );
      for (const line of taskLines) {
        expect(line).toMatchObject({
          jobId: expect.stringMatching(/^job_/),
          workerId: expect.stringMatching(/^tok_[0-9a-f]+:w\d$/),
          epoch: expect.any(Number),
        });
      }
      const bad = await cli(['list'], 'sf_t_nope');
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/^spotfuse: error: invalid token \(HTTP 401\)\n$/);
    });

    // Six tasks: long enough for the kills to land mid-task and for the server's restart to meet a running job,
    // with room for a busy machine.
    it('completes a job through kill -9 of one worker, SIGTERM of another and a server restart, every frame once', {
      timeout: 300_000,
    }, async () => {
      // The first test revoked the first worker token: a fresh fleet with a fresh token.
      const issued = await cli(['tokens', 'create', '--role', 'worker'], ADMIN);
      workerToken = issued.stdout.trim();
      const fleet = ['c1', 'c2', 'c3'].map((name) => startWorker(name));
      const input = join(dir(), 'long.mp4');
      await ffmpeg([
        ...['-f', 'lavfi', '-i', 'testsrc2=s=640x360:r=30:d=20'],
        ...['-f', 'lavfi', '-i', 'sine=f=440:r=48000:d=20'],
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac'],
        input,
      ]);
      const submit = await cli(
        [
          'submit',
          '-t',
          input,
          '--processors',
          'passthrough',
          '--chunk-frames',
          '100',
          '--checkpoint-frames',
          '20',
          '--output-video-preset',
          'slower',
        ],
        acme,
      );
      expect(submit.code).toBe(0);
      const id = submit.stdout.trim();
      const report = async () =>
        (
          await fetch(new URL(`/v1/jobs/${id}`, address), { headers: { authorization: `Bearer ${acme}` } })
        ).json();
      // Wait until every worker is busy, then take two of them away: one without notice, one with.
      const deadline = Date.now() + 60_000;
      while ((await report()).framesDone < 150) {
        expect(Date.now()).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await report()).state).toBe('running');
      fleet[0].child.kill('SIGKILL');
      fleet[1].child.kill('SIGTERM');
      const terminated = await fleet[1].result;
      // Stopped by a notice, it exits 75 (try again later), not 0 (done).
      expect(terminated.code).toBe(PREEMPTED_EXIT_CODE);
      // It flushes what it has and gives its task back (or finishes it, if the notice came at its last frames).
      expect(terminated.stderr).toMatch(/preemption notice/);
      expect(terminated.stderr).toMatch(/task (preempted|completed)/);

      // The coordinator goes away and comes back on the same address (configured by SPOTFUSE_* this time);
      // its state is in PostgreSQL.
      await stopProcess(server);
      const port = new URL(address).port;
      expect(await startServer(`127.0.0.1:${port}`, true)).toBe(address);

      const status = await cli(['status', id, '--watch', '--json', '--interval', '0.5'], acme);
      expect(status.stderr).toBe('');
      const final = JSON.parse(status.stdout);
      expect(final).toMatchObject({
        state: 'completed',
        frames: 600,
        tasks: 6,
        tasksDone: 6,
      });
      // The kill -9 ends in an expired lease, the SIGTERM in a preempted one (or a completed task).
      expect(final.interruptions).toBeGreaterThanOrEqual(1);
      // Task calls that meet the restarting coordinator are retried: no task fails because of it.
      expect(final.failures).toBe(0);
      const logs = (await cli(['logs', id], acme)).stdout;
      expect(logs).toMatch(/on c1: expired/);
      const output = join(dir(), 'long-out.mp4');
      expect((await cli(['download', id, '-o', output], acme)).code).toBe(0);
      await expectSameTimeline(input, output);
    });
  },
);
