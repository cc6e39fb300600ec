import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { FACE_SQUARE } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import type { LocalSegment } from './localTask.js';

/** The frame loop tests' video: 1 s of 640x360 at 30 fps. */
export const WIDTH = 640;
export const HEIGHT = 360;
export const FRAMES = 30;
const FRAME_BYTES = (WIDTH * HEIGHT * 3) / 2;

/**
 * 1 s at 30 fps, black with a white square (the stand-in detectors' face) that moves one 32-pixel
 * grid step every frame, so every frame's output differs and a frame out of place shows.
 */
export async function movingSquare(dir: string): Promise<string> {
  const path = join(dir, 'moving.mp4');
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}:r=30:d=1`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=30:d=1`],
    ...['-filter_complex', "[0:v][1:v]overlay=x='32*mod(n,16)':y='64+32*mod(n,3)'"],
    ...['-c:v', 'libx264', '-crf', '4', '-pix_fmt', 'yuv420p', path],
  ]);
  return path;
}

/** A source face image: the white square on black. */
export async function sourceImage(dir: string): Promise<string> {
  const path = join(dir, 'source.png');
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}`],
    ...['-filter_complex', '[0:v][1:v]overlay=256:128', '-frames:v', '1', path],
  ]);
  return path;
}

/** The md5 of each decoded yuv420p frame of a video of the moving square's size. */
export async function decodedHashes(path: string): Promise<string[]> {
  const args = ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'];
  const raw = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  expect(raw.length % FRAME_BYTES).toBe(0);
  const hashes: string[] = [];
  for (let at = 0; at < raw.length; at += FRAME_BYTES) {
    hashes.push(
      createHash('md5')
        .update(raw.subarray(at, at + FRAME_BYTES))
        .digest('hex'),
    );
  }
  return hashes;
}

/** The md5 of every decoded frame of the segments, in order, with the frame range each segment claims. */
export async function frameHashes(
  segments: LocalSegment[],
): Promise<{ ranges: number[][]; hashes: string[] }> {
  const hashes: string[] = [];
  for (const segment of segments) {
    const own = await decodedHashes(segment.path);
    expect(own).toHaveLength(segment.endFrame - segment.startFrame);
    hashes.push(...own);
  }
  return { ranges: segments.map((s) => [s.startFrame, s.endFrame]), hashes };
}
