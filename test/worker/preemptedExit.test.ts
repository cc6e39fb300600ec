import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { probeVideo, splitProbe } from '../../src/media/probe.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { PREEMPTED_EXIT_CODE } from '../../src/worker/preemption.js';
import { ffmpeg } from '../fixtures/videos.js';
import { startCli } from '../helpers/cli.js';
import { passthroughSpec } from '../helpers/jobSpec.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function until(what: string, condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 50) {
    if (waited > 60_000) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it(`a worker stopped by a preemption notice releases its task and exits ${PREEMPTED_EXIT_CODE}`, async () => {
  // The input reaches the worker through a FIFO the test feeds: the worker holds the task, mid-video,
  // for as long as the test wants, and the notice lands while it does, whatever the machine's speed.
  const video = join(dir(), 'in.y4m');
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=s=160x120:r=30:d=2', '-pix_fmt', 'yuv420p', video]);
  const bytes = await readFile(video);
  const fifo = join(dir(), 'in.fifo');
  execFileSync('mkfifo', [fifo]);
  const { probe, framePts } = splitProbe(await probeVideo(video));

  const store = new SqliteStore(join(dir(), 'state.db'));
  closers.push(() => store.close());
  const leases = new LeaseService(store, new LocalBlobStore(join(dir(), 'blobs')), {
    leaseTtlMs: 30_000,
    maxAttempts: 3,
    logger: pino({ level: 'silent' }),
  });
  const app = buildApi({ leases, workerToken: 'secret' });
  closers.push(() => app.close());
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const job = await store.createJob(
    {
      key: 'k',
      spec: { ...passthroughSpec, input: fifo, output: join(dir(), 'out.mp4') },
      probe,
      framePts,
      chunks: [{ start: 0, end: framePts.length }],
    },
    Date.now(),
  );

  const worker = startCli(
    ['worker', '--cloud', 'none', '--max-tasks', '1', '--worker-id', 'chunk-1', '--work-dir', dir()],
    dir(),
    { SPOTFUSE_SERVER: address, SPOTFUSE_TOKEN: 'secret' },
  );
  const feed = createWriteStream(fifo);
  // The worker stops reading once it has the notice: the rest of the video may find the pipe closed.
  feed.on('error', () => {});
  const half = Math.floor(bytes.length / 2);
  feed.write(bytes.subarray(0, half));
  let checkpointed = 0;
  await until('a checkpoint', () => {
    void store.getTask(`${job.id}-t0000`).then((t) => {
      checkpointed = t?.nextFrame ?? 0;
    });
    return checkpointed > 0;
  });
  worker.child.kill('SIGTERM');
  await until('the notice', () => worker.stderr().includes('preemption notice'));
  feed.end(bytes.subarray(half));

  const { code } = await worker.result;
  expect(code, worker.stderr()).toBe(PREEMPTED_EXIT_CODE);
  const [task] = await store.listTasks(job.id);
  expect(task).toMatchObject({ state: 'pending', preemptions: 1, failures: 0 });
  // What it had processed before the notice is kept as checkpointed segments.
  expect(task.nextFrame).toBeGreaterThanOrEqual(checkpointed);
  expect(task.nextFrame).toBeLessThan(framePts.length);
  const [attempt] = await store.listAttempts(job.id);
  expect(attempt).toMatchObject({ workerId: 'chunk-1', outcome: 'preempted' });
});
