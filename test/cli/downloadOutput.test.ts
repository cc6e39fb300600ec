import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type StandInCoordinator, standInCoordinator } from '../helpers/standInCoordinator.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
const BODY = randomBytes(1024 * 1024);
const started: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const s of started.splice(0)) await s.close();
});

/**
 * A bucket on loopback serving BODY with Range support; each connection sends at most `perConnection`
 * bytes and is then cut, as a flaky network does. The headers of every request it got.
 */
async function bucket(
  perConnection = Number.POSITIVE_INFINITY,
): Promise<{ url: string; requests: IncomingHttpHeaders[] }> {
  const requests: IncomingHttpHeaders[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.headers);
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const headers = { 'content-length': String(BODY.length - start), etag: '"output"' };
    if (range)
      response.writeHead(206, {
        ...headers,
        'content-range': `bytes ${start}-${BODY.length - 1}/${BODY.length}`,
      });
    else response.writeHead(200, headers);
    const end = Math.min(BODY.length, start + perConnection);
    response.write(BODY.subarray(start, end), () => {
      // Closed, not reset: a body cut short.
      if (end < BODY.length) response.socket?.end();
      else response.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  started.push({
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
  // Signed as a presigned URL is: the query is a credential.
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/out.mp4?X-Amz-Signature=secret`,
    requests,
  };
}

/** A coordinator that hands out `url` as job_1's download. */
async function coordinator(url: string): Promise<StandInCoordinator> {
  const c = await standInCoordinator(() => ({ status: 200, body: { url } }));
  started.push(c);
  return c;
}

const download = (address: string, output: string) =>
  runCli(['download', 'job_1', '-o', output], dir(), { SPOTFUSE_SERVER: address, SPOTFUSE_TOKEN: 't' });

it('resumes a download where its connection broke, and writes the output only when it is whole', async () => {
  const flaky = await bucket(400 * 1024);
  const { address } = await coordinator(flaky.url);
  const output = join(dir(), 'out.mp4');
  const result = await download(address, output);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(readFileSync(output).equals(BODY)).toBe(true);
  // fetch may drop the last chunks it had before the cut, so each resume starts at what was written, at most
  // where the connection stopped sending.
  const [first, ...resumes] = flaky.requests.map((h) => h.range);
  expect(first).toBeUndefined();
  expect(resumes.length).toBeGreaterThanOrEqual(2);
  const offsets = resumes.map((range) => Number(/^bytes=(\d+)-$/.exec(range ?? '')?.[1]));
  offsets.forEach((offset, i) => {
    expect(offset).toBeGreaterThan(i === 0 ? 0 : offsets[i - 1]);
    expect(offset).toBeLessThanOrEqual((i + 1) * 400 * 1024);
  });
  expect(existsSync(`${output}.job_1.partial`)).toBe(false);
});

it('keeps what a failed download received for the next one, and never prints the URL’s credential', async () => {
  const flaky = await bucket(100 * 1024);
  const output = join(dir(), 'kept.mp4');
  const failed = await download((await coordinator(flaky.url)).address, output);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toMatch(
    /^spotfuse: error: download of http:\/\/127\.0\.0\.1:\d+\/out\.mp4 failed after 5 tries \(.*\); run again to resume\n$/,
  );
  expect(failed.stderr).not.toContain('secret');
  expect(existsSync(output)).toBe(false);
  const partial = `${output}.job_1.partial`;
  const kept = statSync(partial).size;
  expect(kept).toBeGreaterThan(0);
  expect(kept).toBeLessThanOrEqual(5 * 100 * 1024);
  expect(readFileSync(partial).equals(BODY.subarray(0, kept))).toBe(true);

  const steady = await bucket();
  const resumed = await download((await coordinator(steady.url)).address, output);
  expect(resumed.code).toBe(0);
  expect(steady.requests.map((h) => h.range)).toEqual([`bytes=${kept}-`]);
  expect(readFileSync(output).equals(BODY)).toBe(true);
  expect(existsSync(partial)).toBe(false);
});
