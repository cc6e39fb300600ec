import { execFileSync } from 'node:child_process';
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { MediaError } from '../../src/media/errors.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { decodeFrames, decoderArgs } from '../../src/media/frameDecoder.js';
import { frameByteLength } from '../../src/media/pixelFormat.js';
import { probeVideo, type VideoProbe } from '../../src/media/probe.js';
import {
  cfrWithAudio,
  fullRange,
  oddSize,
  rotated90,
  tenBit,
  variableFrameRate,
  yuv444p,
} from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

async function collect(frames: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const frame of frames) out.push(Buffer.from(frame));
  return out;
}

/** Every frame of the video, decoded by plain ffmpeg in one go: the reference. */
async function referenceFrames(path: string, probe: VideoProbe, pixFmt: string = probe.video.pipePixFmt) {
  const raw = await runTool(
    resolveBinaries().ffmpeg,
    [
      '-v',
      'error',
      '-i',
      path,
      '-map',
      '0:v:0',
      '-vsync',
      '0',
      '-f',
      'rawvideo',
      '-pix_fmt',
      pixFmt,
      'pipe:1',
    ],
    { failure: 'reference decode' },
  );
  const size = frameByteLength(probe.video.pipePixFmt, probe.video.width, probe.video.height);
  expect(raw.length).toBe(size * probe.video.frameCount);
  return Array.from({ length: probe.video.frameCount }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

async function expectRangesExact(path: string, ranges: [number, number][], pixFmt?: string) {
  const probe = await probeVideo(path);
  const reference = await referenceFrames(path, probe, pixFmt);
  for (const [startFrame, endFrame] of ranges) {
    const frames = await collect(decodeFrames({ input: path, probe, startFrame, endFrame }));
    expect(frames.length, `frames ${startFrame}–${endFrame}`).toBe(endFrame - startFrame);
    frames.forEach((frame, i) => {
      expect(frame.equals(reference[startFrame + i]), `frame ${startFrame + i}`).toBe(true);
    });
  }
}

/** ffmpeg processes started by this test process. */
function childFfmpegs(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,stat=,args=', '--ppid', String(process.pid)], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((line) => line.includes(resolveBinaries().ffmpeg) && !/^\s*\d+\s+Z/.test(line));
}

/** Where each thread of process `pid` sleeps in the kernel (Linux `wchan`); empty where that cannot be read. */
function threadWaits(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'utf8'),
    );
  } catch {
    return [];
  }
}

/**
 * Whether a thread of process `pid` sleeps in a write to its full stdout: Node gives a child a Unix
 * socket for it (`sock_alloc_send_pskb`), a shell a pipe (`pipe_write`, `anon_pipe_write`).
 */
const blockedOnOutput = (pid: number) =>
  threadWaits(pid).some((wait) => /pipe_write|sock_alloc_send|unix_stream_sendmsg|wait_for_space/.test(wait));

/** Bytes process `pid` has written so far (to its pipes and files). */
function bytesWritten(pid: number): number {
  return Number(/^wchar:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
}

/** Waits for something the code under test makes happen; the deadline only turns a hang into a failure. */
async function waitUntil(condition: () => boolean, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe('decodeFrames', () => {
  it('decodes the whole video exactly as plain ffmpeg does', async () => {
    await expectRangesExact(await cfrWithAudio(dir()), [[0, 90]]);
  });

  it('seeks frame-exactly into the middle, on and across keyframes (every 30 frames)', async () => {
    await expectRangesExact(await cfrWithAudio(dir()), [
      [1, 2],
      [17, 64],
      [29, 31],
      [30, 45],
      [59, 60],
      [60, 61],
      [89, 90],
    ]);
  });

  it('seeks frame-exactly in a variable-frame-rate video', async () => {
    await expectRangesExact(await variableFrameRate(dir()), [
      [0, 69],
      [29, 31],
      [44, 46],
      [31, 60],
      [68, 69],
    ]);
  });

  it('outputs rotated frames at the display size', async () => {
    const path = await rotated90(dir());
    const probe = await probeVideo(path);
    const [frame] = await collect(decodeFrames({ input: path, probe, startFrame: 10, endFrame: 11 }));
    expect(frame.length).toBe(frameByteLength('yuv420p', 240, 320));
    await expectRangesExact(path, [
      [10, 11],
      [30, 40],
    ]);
  });

  it('keeps odd sizes, 4:4:4, 10-bit and full range exactly', async () => {
    await expectRangesExact(await oddSize(dir()), [
      [5, 13],
      [12, 24],
    ]);
    await expectRangesExact(await yuv444p(dir()), [[25, 40]]);
    await expectRangesExact(await tenBit(dir()), [[25, 40]]);
    // Full range stays full range: the same bytes as decoding to yuvj420p, never squeezed.
    await expectRangesExact(
      await fullRange(dir()),
      [
        [0, 30],
        [12, 20],
      ],
      'yuvj420p',
    );
  });

  it('reads an http URL with range requests', async () => {
    const path = await cfrWithAudio(dir());
    const { size } = await stat(path);
    const ranges: string[] = [];
    const server: Server = createServer((req, res) => {
      const match = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
      ranges.push(req.headers.range ?? 'none');
      const start = match ? Number(match[1]) : 0;
      const end = match?.[2] ? Number(match[2]) : size - 1;
      res.writeHead(match ? 206 : 200, {
        'accept-ranges': 'bytes',
        'content-length': end - start + 1,
        ...(match ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(path, { start, end }).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/video.mp4?signature=secret`;
      const probe = await probeVideo(url);
      expect(probe.video.frameCount).toBe(90);
      const local = await collect(decodeFrames({ input: path, probe, startFrame: 40, endFrame: 50 }));
      const remote = await collect(decodeFrames({ input: url, probe, startFrame: 40, endFrame: 50 }));
      expect(remote.every((frame, i) => frame.equals(local[i]))).toBe(true);
      expect(ranges.some((range) => range !== 'bytes=0-')).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('takes frame timestamps from framePtsAt when the probe comes without them', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const { framePts } = probe.video;
    const stripped = { ...probe, video: { ...probe.video, framePts: [] } };
    const viaCallback = await collect(
      decodeFrames({
        input: path,
        probe: stripped,
        framePtsAt: (i) => framePts[i],
        startFrame: 31,
        endFrame: 33,
      }),
    );
    const direct = await collect(decodeFrames({ input: path, probe, startFrame: 31, endFrame: 33 }));
    expect(viaCallback).toHaveLength(2);
    expect(viaCallback.every((frame, i) => frame.equals(direct[i]))).toBe(true);
  });

  it('asks ffmpeg for a hardware decoder only when told (argv only: no GPU here)', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const range = { input: path, probe, startFrame: 30, endFrame: 40 };
    expect(decoderArgs(range)).not.toContain('-hwaccel');
    const args = decoderArgs({ ...range, hwaccel: 'cuda' });
    expect(args[args.indexOf('-hwaccel') + 1]).toBe('cuda');
    // An input option: before the input, or ffmpeg would apply it to the output.
    expect(args.indexOf('-hwaccel')).toBeLessThan(args.indexOf('-i'));
  });

  it('fails when ffmpeg delivers fewer frames than asked for', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const frames = decodeFrames({ input: path, probe, startFrame: 80, endFrame: 95 });
    await expect(collect(frames)).rejects.toThrow(
      new MediaError(`decoder produced 10 frames, expected 15 for frames 80–95 of ${path}`),
    );
  });

  it('turns an ffmpeg failure into one line', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const missing = `${dir()}/gone.mp4`;
    const error = await collect(decodeFrames({ input: missing, probe, startFrame: 0, endFrame: 2 })).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(MediaError);
    expect(error.message).toMatch(
      new RegExp(`^cannot decode frames 0–2 of ${missing}: .*No such file or directory$`),
    );
  });

  it('holds ffmpeg back while the consumer is slow, and kills it when the consumer stops', async (ctx) => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const frames = decodeFrames({ input: path, probe, startFrame: 0, endFrame: 90 });
    await frames.next();
    const [child] = childFfmpegs();
    const pid = Number(child?.trim().split(/\s+/)[0]);
    if (!threadWaits(pid).some((wait) => /[a-z]/.test(wait))) {
      console.warn('skipped: this system does not show where a process waits (/proc/PID/task/*/wchan)');
      ctx.skip();
    }
    // Blocked writing to its full stdout while nobody reads: it stays there, most of the range unwritten.
    expect(await waitUntil(() => blockedOnOutput(pid), 60_000)).toBe(true);
    const rangeBytes = 90 * frameByteLength(probe.video.pipePixFmt, probe.video.width, probe.video.height);
    expect(bytesWritten(pid)).toBeLessThan(rangeBytes / 4);
    expect(childFfmpegs()).toHaveLength(1);
    await frames.return(undefined);
    expect(await waitUntil(() => childFfmpegs().length === 0)).toBe(true);
  });

  it('stops and kills ffmpeg when the signal aborts', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    const controller = new AbortController();
    const reason = new Error('lease lost');
    let seen = 0;
    const run = (async () => {
      for await (const _ of decodeFrames({
        input: path,
        probe,
        startFrame: 0,
        endFrame: 90,
        signal: controller.signal,
      })) {
        if (++seen === 3) controller.abort(reason);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await expect(run).rejects.toBe(reason);
    expect(seen).toBeLessThan(90);
    expect(await waitUntil(() => childFfmpegs().length === 0)).toBe(true);
  });

  it('rejects an empty or negative range', async () => {
    const probe = await probeVideo(await cfrWithAudio(dir()));
    await expect(collect(decodeFrames({ input: 'x', probe, startFrame: 5, endFrame: 5 }))).rejects.toThrow(
      RangeError,
    );
    await expect(collect(decodeFrames({ input: 'x', probe, startFrame: -1, endFrame: 5 }))).rejects.toThrow(
      RangeError,
    );
  });
});
