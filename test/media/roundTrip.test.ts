import { describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe.js';
import {
  cfrWithAudio,
  delayedVideo,
  fullRange,
  noAudio,
  oddSize,
  probeFramesPts,
  probeStreams,
  psnr,
  rotated90,
  tenBit,
  variableFrameRate,
  yuv444p,
} from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { processAndMerge } from './pipeline.js';

const dir = useTempDir();
const roundTrip = (source: string, outputName: string) => processAndMerge(source, dir(), outputName);

const streamsOf = async (path: string, type: string) =>
  (await probeStreams(path)).filter((s) => s.codec_type === type);

/** A stream's duration in seconds; Matroska keeps it in a DURATION tag (`00:00:02.000000000`). */
function durationOf(stream: Record<string, unknown>): number {
  if (stream.duration !== undefined) return Number(stream.duration);
  const tag = (stream.tags as Record<string, string>).DURATION;
  const [hours, minutes, seconds] = tag.split(':').map(Number);
  return hours * 3600 + minutes * 60 + seconds;
}

async function expectFaithful(source: string, output: string, minPsnr = 35) {
  const [inputPts, outputPts] = await Promise.all([probeFramesPts(source), probeFramesPts(output)]);
  expect(outputPts).toHaveLength(inputPts.length);
  const worst = Math.max(...outputPts.map((t, i) => Math.abs(t - inputPts[i])));
  expect(worst).toBeLessThan(0.001);

  const input = await probeVideo(source);
  const result = await probeVideo(output);
  expect(result.video.frameCount).toBe(input.video.frameCount);
  if (/\.(mp4|mov)$/.test(output)) {
    // Same clock as the source, so the timestamps are not just close: they are the same ticks.
    expect(result.video.timeBase).toEqual(input.video.timeBase);
    expect(result.video.framePts).toEqual(input.video.framePts);
  }
  expect([result.video.width, result.video.height]).toEqual([input.video.width, input.video.height]);
  const frame = 1 / input.video.fps;
  const [inVideo] = await streamsOf(source, 'video');
  const [outVideo] = await streamsOf(output, 'video');
  expect(Math.abs(durationOf(outVideo) - durationOf(inVideo))).toBeLessThan(frame);

  const inAudio = await streamsOf(source, 'audio');
  const outAudio = await streamsOf(output, 'audio');
  expect(outAudio).toHaveLength(inAudio.length);
  outAudio.forEach((stream, i) => {
    expect(stream.codec_name).toBe(inAudio[i].codec_name);
    expect(stream.channels).toBe(inAudio[i].channels);
    expect(Math.abs(durationOf(stream) - durationOf(inAudio[i]))).toBeLessThan(frame);
    expect(Math.abs(Number(stream.start_time) - Number(inAudio[i].start_time))).toBeLessThan(0.001);
  });

  expect(await psnr(output, source)).toBeGreaterThan(minPsnr);
  return result;
}

describe('decode → encode segments → merge', () => {
  it('reproduces a constant-frame-rate video with both audio streams', async () => {
    const source = await cfrWithAudio(dir());
    const { output } = await roundTrip(source, 'cfr.mp4');
    await expectFaithful(source, output);
    const [video] = await streamsOf(output, 'video');
    expect(video.time_base).toBe('1/15360');
  });

  it('reproduces a variable-frame-rate video frame for frame', async () => {
    const source = await variableFrameRate(dir());
    const { output } = await roundTrip(source, 'vfr.mp4');
    await expectFaithful(source, output);
  });

  it('keeps audio in sync when the video starts after the audio', async () => {
    const source = await delayedVideo(dir());
    const { output, probe } = await roundTrip(source, 'delayed.mp4');
    expect(probe.video.firstFramePts).toBeGreaterThan(0);
    await expectFaithful(source, output);
  });

  it('reproduces a video without audio', async () => {
    const source = await noAudio(dir());
    const { output } = await roundTrip(source, 'silent.mkv');
    await expectFaithful(source, output);
  });

  it('shows a rotated clip the same way, with the rotation applied to the pixels', async () => {
    const source = await rotated90(dir());
    const { output } = await roundTrip(source, 'rotated.mp4');
    const result = await expectFaithful(source, output);
    expect(result.video.rotation).toBe(0);
    expect([result.video.width, result.video.height]).toEqual([240, 320]);
  });

  it('keeps an odd size exactly', async () => {
    const source = await oddSize(dir());
    const { output } = await roundTrip(source, 'odd.mp4');
    const result = await expectFaithful(source, output);
    expect([result.video.width, result.video.height]).toEqual([853, 481]);
  });

  it('keeps a full-range source full range', async () => {
    const source = await fullRange(dir());
    const { output } = await roundTrip(source, 'full-range.mp4');
    await expectFaithful(source, output);
    const [video] = await streamsOf(output, 'video');
    expect(video).toMatchObject({ pix_fmt: 'yuvj420p', color_range: 'pc' });
  });

  it('round-trips 10-bit and 4:4:4 without dropping depth or chroma', async () => {
    const deep = await roundTrip(await tenBit(dir()), 'ten-bit.mp4');
    expect((await expectFaithful(await tenBit(dir()), deep.output)).video.sourcePixFmt).toBe('yuv420p10le');
    const full = await roundTrip(await yuv444p(dir()), 'yuv444p.mov');
    expect((await expectFaithful(await yuv444p(dir()), full.output)).video.sourcePixFmt).toBe('yuv444p');
  });
});
