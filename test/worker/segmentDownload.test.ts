import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClaimResponse,
  type MergeSegmentInput,
  SEGMENT_READ_URLS_PAGE,
} from '../../src/protocol/wire.js';
import { LeaseLostError } from '../../src/worker/leaseClient.js';
import { downloadSegments } from '../../src/worker/segmentDownload.js';

/** An object store on loopback: `/<key>` answers "bytes of <key>", or 404 for a key named missing. */
let server: Server;
let base: string;
let answered = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const key = decodeURIComponent(req.url?.slice(1) ?? '');
    res.on('finish', () => answered++);
    if (key.includes('missing')) res.writeHead(404).end('NoSuchKey');
    else res.end(`bytes of ${key}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function mergeClaim(keys: string[]): ClaimResponse {
  const segments: MergeSegmentInput[] = keys.map((key, i) => ({
    key,
    durationMicros: 1000,
    taskId: `t${i}`,
    startFrame: i,
    endFrame: i + 1,
    sha256: null,
    bytes: null,
    decoded: false,
  }));
  return {
    task: {
      id: 'merge-1',
      jobId: 'j',
      kind: 'merge',
      startFrame: 0,
      endFrame: keys.length,
      nextFrame: 0,
      epoch: 3,
    },
    merge: { segments, outputUrl: `${base}/out.mp4` },
  } as ClaimResponse;
}

/** A lease client that signs by prefixing the store's address, recording each call; `failOn`: the call that loses the lease. */
function readUrlClient(failOn?: number) {
  const calls: Array<{ keys: readonly string[]; answeredBefore: number }> = [];
  return {
    calls,
    async segmentReadUrls(taskId: string, epoch: number, keys: readonly string[]) {
      expect([taskId, epoch]).toEqual(['merge-1', 3]);
      calls.push({ keys, answeredBefore: answered });
      if (calls.length === failOn) throw new LeaseLostError(taskId, 'stale');
      return keys.map((key) => `${base}/${encodeURIComponent(key)}`);
    },
  };
}

describe('a merge downloads its segments a page of read URLs at a time', () => {
  it('asks for every URL in order, in pages, the next while the one before downloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-segments-'));
    try {
      const keys = Array.from({ length: 2 * SEGMENT_READ_URLS_PAGE + 50 }, (_, i) => `seg/${i}.mp4`);
      keys[130] = 'seg/missing-130.mp4';
      const client = readUrlClient();
      answered = 0;
      const segments = await downloadSegments(client, mergeClaim(keys), dir);

      expect(client.calls.map((c) => c.keys)).toEqual([
        keys.slice(0, 100),
        keys.slice(100, 200),
        keys.slice(200),
      ]);
      // Page 2's URLs were asked for before any of page 1 had downloaded; page 3's before page 2's had.
      expect(client.calls.map((c) => c.answeredBefore)).toEqual([0, 0, 100]);
      expect(segments.map((s) => s.key)).toEqual(keys);
      expect(segments[130]).toMatchObject({ path: '', missing: expect.stringContaining('404') });
      for (const [i, s] of segments.entries()) {
        if (i === 130) continue;
        expect(s.path).toBe(join(dir, `segment-${i}.mp4`));
        expect(readFileSync(s.path, 'utf8')).toBe(`bytes of ${keys[i]}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the lost lease once the downloads under way have ended', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-segments-'));
    try {
      const keys = Array.from({ length: 3 * SEGMENT_READ_URLS_PAGE }, (_, i) => `seg/${i}.mp4`);
      const client = readUrlClient(3);
      answered = 0;
      await expect(downloadSegments(client, mergeClaim(keys), dir)).rejects.toBeInstanceOf(LeaseLostError);
      // Pages 1 and 2 downloaded in full, nothing of page 3 was asked of the store.
      expect(answered).toBe(200);
      expect(readFileSync(join(dir, 'segment-199.mp4'), 'utf8')).toBe('bytes of seg/199.mp4');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
