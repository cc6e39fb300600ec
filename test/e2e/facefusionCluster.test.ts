import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCESS_KEY, type S3Harness, startS3 } from '../blob/s3Harness.js';
import { faceSquareVideo } from '../fixtures/faceSquares.js';
import { writeModel } from '../fixtures/models.js';
import { probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { type StartedCli, startCli } from '../helpers/cli.js';
import { oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { createTestDatabase, type TestDatabase } from '../store/postgresTestDb.js';

/**
 * The facefusion engine in cluster mode: a tenant submits with `--engine facefusion`, a worker started with
 * `--engine facefusion` downloads the video and writes segments through presigned S3 URLs, and the merged
 * output comes back with the audio. One FaceFusion run per chunk, two chunks.
 */

const ADMIN = 'facefusion-cluster-admin-token-0123';
const pgDb = await createTestDatabase();
const skip = 'unavailable' in pgDb ? pgDb.unavailable : oracleUnavailable();

describe.skipIf(skip !== undefined)(
  `--engine facefusion on a coordinator${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    const dir = useTempDir();
    let s3: S3Harness;
    const started: StartedCli[] = [];
    let address = '';

    const start = (args: string[], env: Record<string, string> = {}) => {
      const cli = startCli(args, dir(), env);
      started.push(cli);
      return cli;
    };

    beforeAll(async () => {
      s3 = await startS3(join(dir(), 's3'));
      const server = start(
        [
          'server',
          '--db',
          'url' in pgDb ? pgDb.url : '',
          '--blob',
          `s3://${s3.bucket}/ff`,
          '--s3-endpoint',
          s3.endpoint,
          '--s3-region',
          'us-east-1',
          '--s3-force-path-style',
          '--listen',
          '127.0.0.1:0',
        ],
        { SPOTFUSE_ADMIN_TOKEN: ADMIN, AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: ACCESS_KEY },
      );
      const deadline = Date.now() + 60_000;
      while (!address) {
        address = /"msg":"listening","address":"([^"]+)"/.exec(server.stderr())?.[1] ?? '';
        if (Date.now() > deadline || server.child.exitCode !== null)
          throw new Error(`server did not start: ${server.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }, 90_000);

    afterAll(async () => {
      for (const cli of started)
        if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGTERM');
      await Promise.all(started.map((cli) => cli.result));
      await s3?.close();
      if ('url' in pgDb) await pgDb.drop();
    });

    it('runs a tenant job on a FaceFusion worker through the object store, with the audio at the merge', async () => {
      const token = async (role: string[]) =>
        (
          await start(['tokens', 'create', ...role], { SPOTFUSE_SERVER: address, SPOTFUSE_TOKEN: ADMIN })
            .result
        ).stdout.trim();
      const workerToken = await token(['--role', 'worker']);
      const tenantToken = await token(['--role', 'tenant', '--tenant', 'acme']);
      const models = join(dir(), 'models');
      await mkdir(models, { recursive: true });
      for (const name of ['yoloface_8n', 'arcface_w600k_r50', '2dfan4', 'xseg_1'] as const)
        await writeModel(models, name);
      const oracle = setUpOracle(join(dir(), 'oracle'), models);
      // A native worker polls beside it: it is handed no chunk of the FaceFusion job (at most its merge).
      start(['worker', '--worker-id', 'native', '--cloud', 'none', '--work-dir', join(dir(), 'work')], {
        SPOTFUSE_SERVER: address,
        SPOTFUSE_TOKEN: workerToken,
      });
      start(
        [
          'worker',
          '--worker-id',
          'facefusion',
          '--engine',
          'facefusion',
          '--facefusion-path',
          oracle.facefusionDir,
          '--facefusion-python',
          oracle.python,
          '--execution-thread-count',
          '1',
          '--cloud',
          'none',
          '--work-dir',
          join(dir(), 'work'),
        ],
        {
          SPOTFUSE_SERVER: address,
          SPOTFUSE_TOKEN: workerToken,
          PYTHONPATH: oracle.env.PYTHONPATH!,
          ONNXRUNTIME_LIBRARY: oracle.env.ONNXRUNTIME_LIBRARY!,
        },
      );
      const input = await faceSquareVideo(dir());
      const output = join(dir(), 'debugged.mp4');
      const run = await start(
        [
          'run',
          '-t',
          input,
          '-o',
          output,
          '--engine',
          'facefusion',
          '--processors',
          'face_debugger',
          '--chunk-frames',
          '30',
          '--server',
          address,
          '--quiet',
        ],
        { SPOTFUSE_TOKEN: tenantToken },
      ).result;
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(await probeFramesPts(output)).toEqual(await probeFramesPts(input));
      expect((await probeStreams(output)).map((s) => s.codec_type)).toEqual(['video', 'audio']);
      // The worker read the video and wrote the segments through presigned URLs (ffmpeg's reads ask for ranges).
      const whole = s3.requests.filter(
        (r) => r.method === 'GET' && r.path.includes('uploads/acme/') && r.headers.range === undefined,
      );
      // Once for both chunks: FaceFusion reads local files, and the worker keeps the job's video.
      expect(whole).toHaveLength(1);
      expect(s3.requests.filter((r) => r.method === 'PUT' && r.path.includes('/segments/'))).toHaveLength(2);
      const attempts = await (pgDb as TestDatabase).query<{
        kind: string;
        worker_id: string;
        outcome: string;
      }>(
        'SELECT t.kind, a.worker_id, a.outcome FROM attempts a JOIN tasks t ON t.id = a.task_id ORDER BY t.seq',
      );
      const chunks = attempts.filter((a) => a.kind === 'process');
      expect(chunks.map((a) => [a.worker_id.replace(/^tok_[0-9a-f]+:/, ''), a.outcome])).toEqual([
        ['facefusion', 'completed'],
        ['facefusion', 'completed'],
      ]);
    }, 300_000);
  },
);
