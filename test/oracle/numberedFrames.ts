import { expect } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { probeFramesPts } from '../fixtures/videos.js';

/**
 * Videos whose every frame carries its own number, and how to read it back from an output: which source
 * frames an engine kept, in which order. The number is written in binary as six dark patches (level 0 or
 * 16, each 40 px wide) along the bottom left, over a background of level 8.
 */

/** The background filter that numbers each frame (for a `[in]…[out]` filter chain on an rgb24 stream). */
export function numberedBackground(height: number): string {
  const bits = `if(gt(Y,${height - 40})*lt(X,240),16*mod(floor(N/pow(2,floor(X/40))),2),8)`;
  return `format=rgb24,geq=r='${bits}':g='${bits}':b='${bits}'`;
}

/** Frames as stored, as rgb24: a video that starts late (FaceFusion's) would otherwise get its first repeated. */
export async function rgbFrames(path: string, width: number, height: number): Promise<Uint8Array[]> {
  const args = ['-v', 'error', '-i', path, '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const raw = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  const size = width * height * 3;
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

/** The number a frame of a numbered video carries, read from the middle of each patch. */
export function frameNumber(frame: Uint8Array, width: number, height: number): number {
  let number = 0;
  for (let bit = 0; bit < 6; bit++) {
    const at = ((height - 20) * width + bit * 40 + 20) * 3;
    if (frame[at + 1] > 8) number += 2 ** bit;
  }
  return number;
}

/**
 * A FaceFusion output's frame times, less the delay its first frame starts at: its audio step (stream-copied
 * video, re-encoded AAC) starts the video about 21 ms late, where spotfuse starts at 0 (README, FaceFusion
 * parity).
 */
export async function startDelayed(path: string): Promise<number[]> {
  const pts = await probeFramesPts(path);
  expect(pts[0]).toBeGreaterThan(0);
  expect(pts[0]).toBeLessThan(0.05);
  return pts.map((t) => t - pts[0]);
}
