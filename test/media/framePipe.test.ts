import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { FramePipe } from '../../src/media/framePipe.js';

/**
 * FramePipe hands a child a named pipe and reads what it writes straight into the caller's buffers: every
 * byte arrives once and in order, whether frames are smaller or larger than one read, whether the reader
 * pauses between frames or not, and a stream that ends mid-frame says how much it got.
 */

/** Starts `command` with the pipe as its stdout; the parent's write end is closed at once. */
async function childWriting(
  command: string,
  args: string[],
): Promise<{ pipe: FramePipe; exited: Promise<unknown> }> {
  const pipe = await FramePipe.open();
  const child = spawn(command, args, { stdio: ['ignore', pipe.childEnd, 'inherit'] });
  pipe.closeWriteEnd();
  return { pipe, exited: once(child, 'exit') };
}

async function readAll(pipe: FramePipe, frameSize: number, pauseEvery = 0): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (;;) {
    const frame = Buffer.alloc(frameSize);
    const got = await pipe.read(frame);
    if (got > 0) frames.push(frame.subarray(0, got));
    if (got < frameSize) return frames;
    if (pauseEvery > 0 && frames.length % pauseEvery === 0) await sleep(30);
  }
}

const rawArgs = (size: string, frames: number) => [
  '-v',
  'error',
  '-f',
  'lavfi',
  '-i',
  `testsrc2=s=${size}:r=30`,
  '-frames:v',
  String(frames),
  '-pix_fmt',
  'yuv420p',
  '-f',
  'rawvideo',
  'pipe:1',
];

describe('FramePipe', () => {
  const { ffmpeg } = resolveBinaries();

  it.each([
    ['larger than a read (1280x720)', '1280x720', 12],
    ['smaller than a read (16x16)', '16x16', 200],
  ])('delivers every frame byte for byte, frames %s, with and without pauses', async (_, size, count) => {
    const reference = await runTool(ffmpeg, rawArgs(size, count), { failure: 'reference' });
    const frameSize = reference.length / count;
    for (const pauseEvery of [0, 7]) {
      const { pipe, exited } = await childWriting(ffmpeg, rawArgs(size, count));
      const frames = await readAll(pipe, frameSize, pauseEvery);
      await exited;
      pipe.close();
      expect(frames.map((f) => f.length)).toEqual(Array(count).fill(frameSize));
      expect(Buffer.concat(frames).equals(reference)).toBe(true);
    }
  });

  it('reports a frame cut short by the end of the stream, then 0', async () => {
    const { pipe, exited } = await childWriting('head', ['-c', '1000', '/dev/zero']);
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) sizes.push(await pipe.read(Buffer.alloc(300)));
    await exited;
    pipe.close();
    expect(sizes).toEqual([300, 300, 300, 100, 0]);
  });

  it('is idle only while no read is asked for', async () => {
    const { pipe, exited } = await childWriting('head', ['-c', '600', '/dev/zero']);
    expect(pipe.idle).toBe(true);
    const reading = pipe.read(Buffer.alloc(300));
    expect(pipe.idle).toBe(false);
    expect(await reading).toBe(300);
    expect(pipe.idle).toBe(true);
    await pipe.read(Buffer.alloc(300));
    await exited;
    pipe.close();
  });
});
