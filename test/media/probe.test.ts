import { appendFile, chmod, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { MediaError } from '../../src/media/errors.js';
import { probeImage, probeVideo } from '../../src/media/probe.js';
import {
  audioOnly,
  cfrWithAudio,
  fullRange,
  noAudio,
  notAVideo,
  oddSize,
  probeFramesPts,
  rotated90,
  stillImage,
  tenBit,
  truncated,
  truncatedFaststart,
  truncatedMatroska,
  VFR_SECONDS,
  variableFrameRate,
  yuv444p,
} from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

const seconds = (pts: number[], tb: { num: number; den: number }) => pts.map((p) => (p * tb.num) / tb.den);

describe('probeVideo', () => {
  it('reads a constant-frame-rate mp4 with two audio streams', async () => {
    const path = await cfrWithAudio(dir());
    const probe = await probeVideo(path);
    expect(probe.formatName).toContain('mp4');
    expect(probe.durationSeconds).toBeCloseTo(3, 1);
    expect(probe.startTimeSeconds).toBe(0);
    expect(probe.sizeBytes).toBeGreaterThan(1000);
    const { video } = probe;
    expect(video).toMatchObject({
      streamIndex: 0,
      codec: 'h264',
      width: 320,
      height: 240,
      rotation: 0,
      sourcePixFmt: 'yuv420p',
      pipePixFmt: 'yuv420p',
      fps: 30,
      frameCount: 90,
      firstFramePts: 0,
    });
    expect(video.framePts).toHaveLength(90);
    const tb = video.timeBase;
    expect(video.lastFrameDurationTicks * (tb.num / tb.den)).toBeCloseTo(1 / 30, 6);
    // Packet timestamps equal what a full decode reports, frame by frame.
    const decoded = await probeFramesPts(path);
    expect(seconds(video.framePts, tb)).toEqual(decoded.map((s) => expect.closeTo(s, 6)));
    expect(probe.audio).toEqual([
      { streamIndex: 1, codec: 'aac', channels: 2, sampleRate: 48000 },
      { streamIndex: 2, codec: 'aac', channels: 1, sampleRate: 44100 },
    ]);
  });

  it('reads a video without audio', async () => {
    const probe = await probeVideo(await noAudio(dir()));
    expect(probe.audio).toEqual([]);
    expect(probe.video.frameCount).toBe(50);
    expect(probe.video.fps).toBe(25);
  });

  it('lists every frame timestamp of a variable-frame-rate video', async () => {
    const path = await variableFrameRate(dir());
    const { video } = await probeVideo(path);
    expect(video.frameCount).toBe(VFR_SECONDS.length);
    const times = seconds(video.framePts, video.timeBase);
    expect(times).toEqual(VFR_SECONDS.map((s) => expect.closeTo(s, 6)));
    const deltas = new Set(video.framePts.slice(1).map((pts, i) => pts - video.framePts[i]));
    expect(deltas.size).toBeGreaterThan(1);
    expect(times).toEqual((await probeFramesPts(path)).map((s) => expect.closeTo(s, 6)));
  });

  it('reports the display size and clockwise rotation of a rotated clip', async () => {
    const { video } = await probeVideo(await rotated90(dir()));
    expect(video.rotation).toBe(90);
    expect([video.width, video.height]).toEqual([240, 320]);
  });

  it('maps odd-sized, 4:4:4, 10-bit and full-range sources to their pipe formats', async () => {
    const odd = await probeVideo(await oddSize(dir()));
    expect(odd.video).toMatchObject({
      codec: 'vp9',
      width: 853,
      height: 481,
      pipePixFmt: 'yuv420p',
      frameCount: 24,
    });
    const full444 = await probeVideo(await yuv444p(dir()));
    expect(full444.video).toMatchObject({ sourcePixFmt: 'yuv444p', pipePixFmt: 'yuv444p', frameCount: 60 });
    const deep = await probeVideo(await tenBit(dir()));
    expect(deep.video).toMatchObject({
      sourcePixFmt: 'yuv420p10le',
      pipePixFmt: 'yuv420p10le',
      frameCount: 60,
    });
    const jpegRange = await probeVideo(await fullRange(dir()));
    expect(jpegRange.video).toMatchObject({ sourcePixFmt: 'yuvj420p', pipePixFmt: 'yuv420p' });
    expect(jpegRange.video.colour.range).toBe('pc');
  });

  it('rejects what it cannot plan, with one clear line', async () => {
    const missing = `${dir()}/nope.mp4`;
    await expect(probeVideo(missing)).rejects.toThrow(new MediaError(`input not found: ${missing}`));
    const text = await notAVideo(dir());
    await expect(probeVideo(text)).rejects.toThrow(
      new MediaError(`not a video: ${text} (unrecognised format)`),
    );
    const audio = await audioOnly(dir());
    await expect(probeVideo(audio)).rejects.toThrow(
      new MediaError(`not a video: ${audio} (no video stream)`),
    );
    const cut = await truncated(dir());
    await expect(probeVideo(cut)).rejects.toThrow(`cannot read video ${cut}: moov atom not found`);
    const cutIndexed = await truncatedFaststart(dir());
    await expect(probeVideo(cutIndexed)).rejects.toThrow(
      new RegExp(`^cannot read video ${cutIndexed}: file ends after \\d+ of 90 frames`),
    );
    const cutMatroska = await truncatedMatroska(dir());
    await expect(probeVideo(cutMatroska)).rejects.toThrow(
      new RegExp(`^cannot read video ${cutMatroska}: file ends at [\\d.]+ s of 3.0 s`),
    );
    const still = await stillImage(dir());
    await expect(probeVideo(still)).rejects.toThrow(new MediaError(`not a video: ${still} (a still image)`));
    for (const path of [missing, text, audio, cut, cutIndexed, cutMatroska, still]) {
      const error = await probeVideo(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as Error).message).not.toContain('\n');
    }
  });
});

describe('probeImage', () => {
  it('reads a still image', async () => {
    expect(await probeImage(await stillImage(dir()))).toEqual({ width: 160, height: 120, codec: 'png' });
  });

  it('rejects missing files and non-images', async () => {
    const missing = `${dir()}/face.png`;
    await expect(probeImage(missing)).rejects.toThrow(new MediaError(`input not found: ${missing}`));
    for (const path of [await notAVideo(dir()), await noAudio(dir())]) {
      await expect(probeImage(path)).rejects.toThrow(new MediaError(`not an image: ${path}`));
    }
  });
});

describe('probes of the same file', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.resetModules();
  });

  it('run ffprobe once while the file is unchanged, again once it changes; each caller gets its own copy', async () => {
    const runs = join(dir(), 'runs');
    const ffprobe = join(dir(), 'ffprobe');
    await writeFile(ffprobe, `#!/bin/sh\necho run >> '${runs}'\nexec '${resolveBinaries().ffprobe}' "$@"\n`);
    await chmod(ffprobe, 0o755);
    process.env.SPOTFUSE_FFPROBE = ffprobe;
    vi.resetModules();
    const fresh: typeof import('../../src/media/probe.js') = await import('../../src/media/probe.js');
    const runCount = async () => (await readFile(runs, 'utf8')).split('\n').filter(Boolean).length;
    const [video, image] = [await noAudio(dir()), await stillImage(dir())];

    const first = await fresh.probeVideo(video);
    const once = await runCount();
    first.video.framePts.length = 0;
    const second = await fresh.probeVideo(video);
    expect(await runCount()).toBe(once);
    expect(second).toEqual(await probeVideo(video));
    expect(await fresh.probeImage(image)).toEqual(await fresh.probeImage(image));
    expect(await runCount()).toBe(once + 1);

    await appendFile(video, Buffer.alloc(0));
    await utimes(video, new Date(), new Date(Date.now() + 5000));
    expect(await fresh.probeVideo(video)).toEqual(second);
    expect(await runCount()).toBe(2 * once + 1);
  });
});
