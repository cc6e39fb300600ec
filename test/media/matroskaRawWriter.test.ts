import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { matroskaFrame, matroskaHeader } from '../../src/media/matroskaRawWriter.js';
import { frameByteLength, type PipePixelFormat } from '../../src/media/pixelFormat.js';
import { rawFrames } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

const FORMATS: PipePixelFormat[] = [
  'yuv420p',
  'yuv422p',
  'yuv444p',
  'yuv420p10le',
  'yuv422p10le',
  'yuv444p10le',
];

async function writeMatroska(
  path: string,
  pixFmt: PipePixelFormat,
  width: number,
  height: number,
  frames: Buffer[],
  pts: number[],
) {
  const parts = [matroskaHeader({ width, height, pixFmt })];
  for (const [i, t] of pts.entries()) parts.push(...matroskaFrame(frames[i], t));
  await writeFile(path, Buffer.concat(parts));
}

describe('Matroska raw writer', () => {
  it.each(FORMATS)('ffmpeg reads %s frames back byte for byte, at an odd size', async (pixFmt) => {
    const [width, height] = [37, 21];
    const frames = await rawFrames(pixFmt, width, height, 3);
    const path = join(dir(), `${pixFmt}.mkv`);
    await writeMatroska(path, pixFmt, width, height, frames, [0, 40000, 100000]);
    // No -pix_fmt: whatever ffmpeg takes the ColourSpace to mean is what comes out.
    const back = await runTool(
      resolveBinaries().ffmpeg,
      ['-v', 'error', '-i', path, '-vsync', '0', '-f', 'rawvideo', 'pipe:1'],
      { failure: 'read back' },
    );
    const streams = await runTool(
      resolveBinaries().ffprobe,
      ['-v', 'error', '-show_entries', 'stream=codec_name,pix_fmt,width,height', '-of', 'csv=p=0', path],
      { failure: 'probe' },
    );
    expect(streams.toString().trim()).toBe(`rawvideo,${width},${height},${pixFmt}`);
    expect(back.equals(Buffer.concat(frames))).toBe(true);
  });

  it('carries each frame timestamp to the microsecond, beyond 32 bits', async () => {
    const frames = await rawFrames('yuv420p', 16, 16, 4);
    const path = join(dir(), 'timestamps.mkv');
    const pts = [0, 33367, 2_000_000, 7_200_000_001];
    await writeMatroska(path, 'yuv420p', 16, 16, frames, pts);
    const out = await runTool(
      resolveBinaries().ffprobe,
      ['-v', 'error', '-show_entries', 'packet=pts,flags', '-of', 'csv=p=0', path],
      { failure: 'probe' },
    );
    const packets = out
      .toString()
      .trim()
      .split('\n')
      .map((line) => line.split(','));
    expect(packets.map(([p]) => Number(p))).toEqual(pts);
    expect(packets.every(([, flags]) => flags.startsWith('K'))).toBe(true);
  });

  it('hands the frame buffer over without copying it', () => {
    const frame = Buffer.alloc(frameByteLength('yuv420p', 16, 16));
    const parts = matroskaFrame(frame, 5);
    expect(parts.at(-1)).toBe(frame);
    expect(() => matroskaFrame(frame, -1)).toThrow(RangeError);
    expect(() => matroskaFrame(frame, 1.5)).toThrow(RangeError);
  });
});
