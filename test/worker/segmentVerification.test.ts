import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { hashFile } from '../../src/models/hashes.js';
import type { ClaimResponse } from '../../src/protocol/wire.js';
import { type DownloadedSegment, damagedSegments } from '../../src/worker/segmentVerification.js';
import { testClip } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * The merge's check of downloaded segments: a segment its worker marked decoded, whose bytes are the ones it
 * recorded, is not decoded again; any other is. Shown with a segment that does not decode: the merge lets it
 * through only when its worker vouched for exactly these bytes.
 */

const dir = useTempDir();
/** Frames at 30 fps, one tick each: the test clip's 30 frames are the plan of any 30 of them. */
const claim = {
  probe: { video: { timeBase: { num: 1, den: 30 } } },
  framePts: Array.from({ length: 300 }, (_, i) => i),
  framePtsFrom: 0,
} as unknown as ClaimResponse;

let good: string;
let undecodable: string;
beforeAll(async () => {
  good = join(dir(), 'good.mp4');
  await testClip(good);
  undecodable = join(dir(), 'undecodable.mp4');
  await copyFile(good, undecodable);
  const bytes = await readFile(undecodable);
  for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 64; i++) bytes[i] ^= 0xff;
  await writeFile(undecodable, bytes);
});

/** Segment `n` (frames 30n to 30n+30) read from `path`, its checkpoint having recorded `recorded`'s hashes. */
async function segment(
  n: number,
  path: string,
  options: { recorded?: string; decoded: boolean; hashes?: 'both' | 'sha256 only' | 'none' },
): Promise<DownloadedSegment> {
  const { sha256, size } = await hashFile(options.recorded ?? path);
  const hashes = options.hashes ?? 'both';
  return {
    key: `jobs/j/segments/t-e1-f${String(30 * n).padStart(8, '0')}.mp4`,
    durationMicros: 1_000_000,
    taskId: 't',
    startFrame: 30 * n,
    endFrame: 30 * n + 30,
    sha256: hashes === 'none' ? null : sha256,
    bytes: hashes === 'both' ? size : null,
    decoded: options.decoded,
    path,
  };
}

const reasons = async (segments: DownloadedSegment[]) =>
  (await damagedSegments(segments, claim, new AbortController().signal)).map((r) => r.reason);

describe('segment verification at the merge', () => {
  it('decodes a segment its worker did not mark decoded', async () => {
    expect(await reasons([await segment(0, good, { decoded: false })])).toEqual([]);
    expect(await reasons([await segment(0, undecodable, { decoded: false })])).toEqual([
      expect.stringMatching(/^segment 0-30: cannot decode: /),
    ]);
  });

  it('does not decode a segment marked decoded whose size and SHA-256 match what was recorded', async () => {
    // Undecodable, yet passed: these are the bytes its worker decoded (a worker that found them undecodable
    // would not have uploaded them), so the merge does not decode them again.
    expect(await reasons([await segment(0, undecodable, { decoded: true })])).toEqual([]);
  });

  it('decodes a segment marked decoded when its size or SHA-256 was not recorded', async () => {
    const found = await reasons([
      await segment(1, undecodable, { decoded: true, hashes: 'sha256 only' }),
      await segment(2, undecodable, { decoded: true, hashes: 'none' }),
    ]);
    expect(found).toEqual([
      expect.stringMatching(/^segment 30-60: cannot decode: /),
      expect.stringMatching(/^segment 60-90: cannot decode: /),
    ]);
  });

  it('rejects a segment marked decoded whose bytes changed after the upload', async () => {
    expect(await reasons([await segment(3, undecodable, { recorded: good, decoded: true })])).toEqual([
      expect.stringMatching(/^segment 90-120: SHA-256 [0-9a-f]{16}…, uploaded [0-9a-f]{16}…$/),
    ]);
  });
});
