import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/client/api.js';
import { waitForJob } from '../../src/cli/client/commands.js';
import { UserError } from '../../src/core/errors.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { runCli, startCli } from '../helpers/cli.js';
import {
  type StandInCall,
  type StandInCoordinator,
  standInCoordinator,
} from '../helpers/standInCoordinator.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
let running: StandInCoordinator | undefined;

/** A stand-in coordinator, closed after the test. */
async function coordinator(answer: (call: StandInCall) => { status: number; body?: unknown }) {
  running = await standInCoordinator(answer);
  return running;
}

afterEach(async () => {
  await running?.close();
  running = undefined;
});

/** A job's report as the coordinator sends it, with what the progress views read. */
const report = (state: string) => ({
  jobId: 'job_1',
  state,
  frames: 90,
  framesDone: state === 'completed' ? 90 : 30,
  tasks: 2,
  tasksDone: state === 'completed' ? 2 : 0,
  interruptions: 0,
  failures: 0,
});

const restarting = { status: 503, body: { error: 'the database is unreachable; try again' } };

it('follows a job through a coordinator restart, saying when it went away and when it came back', async () => {
  // Running, then two 503s (the coordinator restarting), then completed.
  const { address, calls } = await coordinator(() =>
    calls.length === 1
      ? { status: 200, body: report('running') }
      : calls.length <= 3
        ? restarting
        : { status: 200, body: report('completed') },
  );
  const lines: string[] = [];
  const states: string[] = [];
  const last = await waitForJob(new ApiClient({ server: address, token: 't' }), 'job_1', {
    intervalMs: 10,
    unreachableMs: 60_000,
    onReport: (r) => states.push(r.state),
    onOutage: (line) => lines.push(line),
  });
  expect(last.state).toBe('completed');
  expect(states).toEqual(['running']);
  expect(lines).toEqual([
    'the database is unreachable; try again (HTTP 503); asking again for up to 1m00s, the job goes on there',
    expect.stringMatching(/^coordinator back after 0m0[34]s$/),
  ]);
  expect(calls).toHaveLength(4);
  // Asked again after 1 s, then 2 s: timers never fire early (how late they fire is not asserted).
  expect(calls[2].at - calls[1].at).toBeGreaterThanOrEqual(1000);
  expect(calls[3].at - calls[2].at).toBeGreaterThanOrEqual(2000);
});

it('gives up past --unreachable-limit, and at once on an answer that is no restart', async () => {
  const gateway = await coordinator(() => ({ status: 502, body: { error: 'bad gateway' } }));
  const client = new ApiClient({ server: gateway.address, token: 't' });
  const options = { intervalMs: 10, unreachableMs: 2000 };
  // Asked at 0, 1 and 3 s: the third fails past the limit.
  const gaveUp = await waitForJob(client, 'job_1', options).catch((e: unknown) => e);
  expect(gaveUp).toBeInstanceOf(UserError);
  expect((gaveUp as Error).message).toMatch(/^bad gateway \(HTTP 502\), for 0m0[34]s$/);
  expect(gateway.calls).toHaveLength(3);
  await gateway.close();

  const missing = await coordinator(() => ({ status: 404, body: { error: 'no such job' } }));
  const refused = await waitForJob(
    new ApiClient({ server: missing.address, token: 't' }),
    'job_1',
    options,
  ).catch((e: unknown) => e);
  expect((refused as Error).message).toBe('no such job (HTTP 404)');
  expect(missing.calls).toHaveLength(1);
});

it('`status --watch` waits out a restarting coordinator, then prints the report', async () => {
  const { address, calls } = await coordinator(() =>
    calls.length <= 2 ? restarting : { status: 200, body: report('completed') },
  );
  const result = await runCli(['status', 'job_1', '--watch', '--json', '--interval', '0.1'], dir(), {
    SPOTFUSE_SERVER: address,
    SPOTFUSE_TOKEN: 't',
  });
  expect(result.code).toBe(0);
  expect(JSON.parse(result.stdout)).toMatchObject({ jobId: 'job_1', state: 'completed' });
  expect(result.stderr.split('\n').filter(Boolean)).toEqual([
    'the database is unreachable; try again (HTTP 503); asking again for up to 10m00s, the job goes on there',
    expect.stringMatching(/^coordinator back after 0m0[34]s$/),
  ]);
});

it('`run --server`: Ctrl-C leaves the job running on the coordinator and says how to pick it up again', async () => {
  const input = await cfrWithAudio(dir());
  const output = join(dir(), 'out.mp4');
  const { address, calls } = await coordinator((call) => {
    if (call.path === '/v1/uploads')
      return {
        status: 200,
        body: { key: 'uploads/in.mp4', url: pathToFileURL(join(dir(), 'blobs', 'in.mp4')).href },
      };
    if (call.path === '/v1/jobs') return { status: 201, body: { id: 'job_1' } };
    return { status: 200, body: report('running') };
  });
  const run = startCli(
    ['run', '-t', input, '-o', output, '--processors', 'passthrough', '--server', address],
    dir(),
    {
      SPOTFUSE_TOKEN: 't',
    },
  );
  while (!calls.some((c) => c.method === 'GET')) await sleep(50);
  run.child.kill('SIGINT');
  const { code, stderr } = await run.result;
  expect(code).toBe(130);
  const lines = stderr.split('\n').filter((line) => !line.startsWith('{'));
  expect(lines).toContain(`submitted job job_1 to ${address}; Ctrl-C leaves it running there`);
  expect(lines).toContain(
    `interrupted: job job_1 goes on at ${address}: spotfuse status job_1 --watch, then spotfuse download job_1 -o ${output} (spotfuse cancel job_1 stops it)`,
  );
  // Nothing asked the coordinator to stop it.
  expect(calls.map((c) => `${c.method} ${c.path}`).filter((c) => !c.startsWith('GET'))).toEqual([
    'POST /v1/uploads',
    'POST /v1/jobs',
  ]);
});
