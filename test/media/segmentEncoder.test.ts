import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { MediaError } from '../../src/media/errors.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { encoderArgs, SegmentEncoder, type SegmentEncoderOptions } from '../../src/media/segmentEncoder.js';
import { probeFramesPts, probeStreams, rawFrames } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

async function packets(path: string): Promise<{ pts: number; key: boolean }[]> {
  const out = await runTool(
    resolveBinaries().ffprobe,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,flags', '-of', 'json', path],
    { failure: 'packets' },
  );
  const list: { pts: number; flags: string }[] = JSON.parse(out.toString()).packets;
  return list.map((p) => ({ pts: p.pts, key: p.flags.startsWith('K') })).sort((a, b) => a.pts - b.pts);
}

async function decode(path: string, pixFmt: string): Promise<Buffer> {
  return runTool(
    resolveBinaries().ffmpeg,
    ['-v', 'error', '-i', path, '-vsync', '0', '-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1'],
    { failure: 'decode' },
  );
}

async function formatName(path: string): Promise<string> {
  const out = await runTool(
    resolveBinaries().ffprobe,
    ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'default=nw=1:nk=1', path],
    { failure: 'format' },
  );
  return out.toString().trim();
}

const base: Omit<SegmentEncoderOptions, 'outputPath'> = {
  width: 64,
  height: 48,
  pixFmt: 'yuv420p',
  colour: {},
  fps: 30,
};

async function encode(
  outputPath: string,
  frames: Buffer[],
  pts: number[],
  options: Partial<SegmentEncoderOptions> = {},
) {
  const encoder = SegmentEncoder.start({ ...base, outputPath, ...options });
  for (const [i, frame] of frames.entries()) await encoder.write(frame, pts[i]);
  await encoder.finish();
}

describe('SegmentEncoder', () => {
  it('keeps every timestamp to the microsecond and starts with a keyframe', async () => {
    const path = join(dir(), 'timestamps.mp4');
    const pts = [0, 40000, 100000, 133000, 133001, 200000, 233333, 266667, 1000000, 1033333];
    await encode(path, await rawFrames('yuv420p', 64, 48, pts.length), pts);
    const out = await packets(path);
    // Timestamps count from the file's start, which is the encoder's reorder delay (no edit list).
    expect(out.map((p) => p.pts - out[0].pts)).toEqual(pts);
    expect(out[0].key).toBe(true);
    const [video] = await probeStreams(path);
    expect(video).toMatchObject({
      codec_name: 'h264',
      width: 64,
      height: 48,
      pix_fmt: 'yuv420p',
      time_base: '1/1000000',
    });
    // The nominal rate keeps x264 from declaring an absurd level for a 1 µs clock.
    expect(Number(video.level)).toBeLessThanOrEqual(40);
  });

  it('encodes at outputSize when it differs from the frames, odd sides as 4:4:4, with every timestamp', async () => {
    const pts = [0, 33333, 66667, 100000];
    const frames = await rawFrames('yuv420p', 64, 48, pts.length);
    for (const [size, pixFmt] of [
      [{ width: 128, height: 96 }, 'yuv420p'],
      [{ width: 33, height: 25 }, 'yuv444p'],
    ] as const) {
      const path = join(dir(), `resized-${size.width}.mp4`);
      await encode(path, frames, pts, { outputSize: size });
      const [video] = await probeStreams(path);
      expect(video).toMatchObject({ width: size.width, height: size.height, pix_fmt: pixFmt });
      const out = await packets(path);
      expect(out.map((p) => p.pts - out[0].pts)).toEqual(pts);
    }
  });

  it('keeps the last frame when the segment is decoded on its own', async () => {
    const path = join(dir(), 'whole.mp4');
    const frames = await rawFrames('yuv420p', 64, 48, 50);
    await encode(
      path,
      frames,
      frames.map((_, i) => i * 40000),
      { fps: 25 },
    );
    const decoded = await probeFramesPts(path);
    expect(decoded).toHaveLength(50);
    expect(decoded.map((t) => Math.round((t - decoded[0]) * 1e6))).toEqual(frames.map((_, i) => i * 40000));
  });

  it('maps quality 100 to lossless and lower quality to smaller files', async () => {
    const frames = await rawFrames('yuv444p', 160, 120, 10);
    const pts = frames.map((_, i) => i * 33333);
    const best = join(dir(), 'q100.mp4');
    const worst = join(dir(), 'q0.mp4');
    await encode(best, frames, pts, { width: 160, height: 120, pixFmt: 'yuv444p', quality: 100 });
    await encode(worst, frames, pts, { width: 160, height: 120, pixFmt: 'yuv444p', quality: 0 });
    expect((await decode(best, 'yuv444p')).equals(Buffer.concat(frames))).toBe(true);
    expect((await stat(worst)).size).toBeLessThan((await stat(best)).size / 3);
  });

  it('encodes odd sizes with subsampled chroma as 4:4:4 at the exact size', async () => {
    const frames = await rawFrames('yuv420p', 85, 47, 5);
    const path = join(dir(), 'odd.mp4');
    await encode(
      path,
      frames,
      [0, 1, 2, 3, 4].map((i) => i * 41708),
      { width: 85, height: 47 },
    );
    const [video] = await probeStreams(path);
    expect(video).toMatchObject({ width: 85, height: 47, pix_fmt: 'yuv444p' });
    const deep = await rawFrames('yuv422p10le', 85, 48, 3);
    const deepPath = join(dir(), 'odd-10.mp4');
    await encode(deepPath, deep, [0, 1, 2], { width: 85, pixFmt: 'yuv422p10le' });
    expect((await probeStreams(deepPath))[0]).toMatchObject({
      width: 85,
      height: 48,
      pix_fmt: 'yuv444p10le',
    });
  });

  it('writes the colour metadata it is given', async () => {
    const path = join(dir(), 'colour.mp4');
    const colour = { range: 'pc', space: 'bt709', primaries: 'bt709', transfer: 'bt709' };
    await encode(path, await rawFrames('yuv420p', 64, 48, 3), [0, 33333, 66667], { colour });
    expect((await probeStreams(path))[0]).toMatchObject({
      color_range: 'pc',
      color_space: 'bt709',
      color_primaries: 'bt709',
      color_transfer: 'bt709',
    });
  });

  it('encodes VP9 with its own quality scale', async () => {
    const path = join(dir(), 'vp9.mp4');
    const frames = await rawFrames('yuv420p', 64, 48, 4);
    await encode(path, frames, [0, 50000, 90000, 120000], { encoder: 'libvpx-vp9', quality: 60 });
    expect((await probeStreams(path))[0]).toMatchObject({ codec_name: 'vp9' });
    const out = await packets(path);
    expect(out.map((p) => p.pts - out[0].pts)).toEqual([0, 50000, 90000, 120000]);
  });

  it('writes FFV1 into Matroska, losslessly, with millisecond timestamps', async () => {
    const path = join(dir(), 'ffv1.mkv');
    const frames = await rawFrames('yuv420p', 64, 48, 5);
    const pts = [0, 40000, 100000, 133000, 200000];
    await encode(path, frames, pts, { encoder: 'ffv1' });
    const streams = await probeStreams(path);
    expect(streams[0]).toMatchObject({ codec_name: 'ffv1', pix_fmt: 'yuv420p' });
    expect(await formatName(path)).toBe('matroska,webm');
    expect(await decode(path, 'yuv420p')).toEqual(Buffer.concat(frames));
    const out = await packets(path);
    expect(out.map((p) => (p.pts - out[0].pts) * 1000)).toEqual(pts);
    expect(out.every((p) => p.key)).toBe(true);
  });

  it('writes ProRes into QuickTime as 10-bit 4:2:2, to the microsecond', async () => {
    const path = join(dir(), 'prores.mov');
    const frames = await rawFrames('yuv420p', 64, 48, 4);
    const pts = [0, 40000, 90001, 133333];
    await encode(path, frames, pts, { encoder: 'prores_ks' });
    expect((await probeStreams(path))[0]).toMatchObject({ codec_name: 'prores', pix_fmt: 'yuv422p10le' });
    expect(await formatName(path)).toBe('mov,mp4,m4a,3gp,3g2,mj2');
    const out = await packets(path);
    expect(out.map((p) => p.pts - out[0].pts)).toEqual(pts);
  });

  it('reports a failing encoder in one line, from write or finish', async () => {
    const path = join(dir(), 'broken.mp4');
    const [frame] = await rawFrames('yuv420p', 64, 48, 1);
    const encoder = SegmentEncoder.start({ ...base, outputPath: path, encoder: 'no-such-encoder' });
    const error = await (async () => {
      for (let i = 0; i < 50; i++) await encoder.write(frame, i * 33333);
      await encoder.finish();
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as Error).message).toBe(`cannot encode ${path}: Unknown encoder 'no-such-encoder'`);
  });

  it('drives NVENC with its own quality scale and preset names, no x264 options (argv only: no GPU here)', () => {
    const args = encoderArgs({
      ...base,
      outputPath: 'out.mp4',
      encoder: 'h264_nvenc',
      quality: 80,
      preset: 'veryfast',
    });
    const flagValue = (flag: string) => args[args.lastIndexOf(flag) + 1];
    expect([
      flagValue('-c:v'),
      flagValue('-cq'),
      flagValue('-preset'),
      flagValue('-pix_fmt'),
      flagValue('-f'),
    ]).toEqual(['h264_nvenc', '10', 'fast', 'yuv420p', 'mp4']);
    expect(args).not.toContain('-crf');
    expect(args).not.toContain('-x264-params');
    const hevc = encoderArgs({
      ...base,
      outputPath: 'out.mp4',
      encoder: 'hevc_nvenc',
      quality: 0,
      preset: 'slow',
    });
    expect([hevc[hevc.indexOf('-cq') + 1], hevc[hevc.indexOf('-preset') + 1]]).toEqual(['51', 'slow']);
  });

  it('refuses frames of the wrong size and empty segments', async () => {
    const encoder = SegmentEncoder.start({ ...base, outputPath: join(dir(), 'empty.mp4') });
    await expect(encoder.write(Buffer.alloc(10), 0)).rejects.toThrow(RangeError);
    await expect(encoder.finish()).rejects.toThrow(MediaError);
  });

  it('aborts at once', async () => {
    const encoder = SegmentEncoder.start({ ...base, outputPath: join(dir(), 'aborted.mp4') });
    const [frame] = await rawFrames('yuv420p', 64, 48, 1);
    await encoder.write(frame, 0);
    encoder.abort();
    await expect(encoder.finish()).rejects.toThrow(MediaError);
    await expect(encoder.write(frame, 33333)).rejects.toThrow(MediaError);
  });
});
