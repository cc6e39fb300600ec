import { appendFileSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/media/probe.js';
import {
  cfrWithAudio,
  ffmpeg,
  framePsnr,
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
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

async function expectSameTimeline(input: string, output: string): Promise<void> {
  const [a, b] = await Promise.all([probeFramesPts(input), probeFramesPts(output)]);
  expect(b.length).toBe(a.length);
  const worst = Math.max(...a.map((t, i) => Math.abs(t - b[i])));
  expect(worst).toBeLessThan(0.001);
}

function streamDuration(streams: Record<string, string | number>[], type: string): number[] {
  return streams.filter((s) => s.codec_type === type).map((s) => Number(s.duration));
}

describe('spotfuse run (embedded, end to end)', () => {
  const dir = useTempDir();

  async function run(input: string, name: string, extra: string[] = []) {
    const output = join(dir(), `${name}.mp4`);
    const report = join(dir(), `${name}.json`);
    const result = await runCli(
      [
        'run',
        '-t',
        input,
        '-o',
        output,
        '--state-dir',
        join(dir(), `state-${name}`),
        '--report',
        report,
        '--processors',
        'passthrough',
        ...extra,
      ],
      dir(),
    );
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    return { output, report: JSON.parse(readFileSync(report, 'utf8')), stderr: result.stderr };
  }

  it('splits a video with two audio streams into chunks and segments and merges it seamlessly', async () => {
    const input = await cfrWithAudio(dir());
    const { output, report } = await run(input, 'cfr', [
      '--workers',
      '2',
      '--chunk-frames',
      '25',
      '--checkpoint-frames',
      '10',
    ]);
    expect(report).toMatchObject({
      state: 'completed',
      frames: 90,
      tasks: 4,
      segments: 11,
      interruptions: 0,
      failures: 0,
      framesRedone: 0,
      output,
    });
    expect(report.attempts).toBe(5);
    expect(report.cost).toMatchObject({
      currency: 'USD',
      paid: 0,
      savingPercent: null,
      unpricedGpuSeconds: 0,
    });
    expect(report.cost.tasks).toHaveLength(5);
    expect(report.wallSeconds).toBeGreaterThan(0);
    // Segments are gone once the output holds every frame.
    expect(readdirSync(join(dir(), 'state-cfr', 'blobs'))).toEqual([]);
    await expectSameTimeline(input, output);
    expect(await psnr(output, input)).toBeGreaterThan(35);
    const [inStreams, outStreams] = await Promise.all([probeStreams(input), probeStreams(output)]);
    const inAudio = streamDuration(inStreams, 'audio');
    const outAudio = streamDuration(outStreams, 'audio');
    expect(outAudio).toHaveLength(2);
    for (const [i, d] of outAudio.entries()) expect(Math.abs(d - inAudio[i])).toBeLessThan(1 / 30);
    const outVideo = streamDuration(outStreams, 'video')[0];
    expect(Math.abs(outVideo - streamDuration(inStreams, 'video')[0])).toBeLessThan(1 / 30);
  });

  it('keeps every timestamp of a variable frame rate video', async () => {
    const input = await variableFrameRate(dir());
    const { output } = await run(input, 'vfr', [
      '--workers',
      '2',
      '--chunk-frames',
      '20',
      '--checkpoint-frames',
      '7',
    ]);
    await expectSameTimeline(input, output);
    expect(await psnr(output, input)).toBeGreaterThan(35);
  });

  it('processes only the trim range: its frames from time 0, the audio cut to match, as FaceFusion', async () => {
    const input = await cfrWithAudio(dir());
    const { output, report } = await run(input, 'trim', [
      '--workers',
      '2',
      '--chunk-frames',
      '20',
      '--checkpoint-frames',
      '10',
      '--trim-frame-start',
      '20',
      '--trim-frame-end',
      '65',
    ]);
    // Tasks [20,40) [40,60) [60,65), segments of at most 10 frames.
    expect(report).toMatchObject({ state: 'completed', frames: 45, tasks: 3, segments: 5 });
    const inPts = await probeFramesPts(input);
    const outPts = await probeFramesPts(output);
    expect(outPts).toEqual(inPts.slice(20, 65).map((t) => expect.closeTo(t - inPts[20], 3)));
    // The same pictures as the source's frames 20–64.
    const reference = join(dir(), 'trim-reference.mkv');
    await ffmpeg([
      ...['-i', input, '-vf', 'trim=start_frame=20:end_frame=65,setpts=PTS-STARTPTS'],
      ...['-an', '-c:v', 'ffv1', reference],
    ]);
    expect(await psnr(output, reference)).toBeGreaterThan(35);
    const audio = streamDuration(await probeStreams(output), 'audio');
    expect(audio).toHaveLength(2);
    for (const d of audio) expect(Math.abs(d - 45 / 30)).toBeLessThan(1 / 30);
  });

  it('trims a variable frame rate video at its own frame times, and refuses a range with no frame', async () => {
    const input = await variableFrameRate(dir());
    const { output } = await run(input, 'vfr-trim', [
      '--chunk-frames',
      '9',
      '--checkpoint-frames',
      '4',
      '--trim-frame-start',
      '7',
      '--trim-frame-end',
      '30',
    ]);
    const inPts = await probeFramesPts(input);
    expect(await probeFramesPts(output)).toEqual(
      inPts.slice(7, 30).map((t) => expect.closeTo(t - inPts[7], 3)),
    );
    const refused = await runCli(
      ['run', '-t', input, '-o', join(dir(), 'none.mp4'), '--state-dir', join(dir(), 'state-none')].concat([
        '--processors',
        'passthrough',
        '--trim-frame-start',
        '5000',
      ]),
      dir(),
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /--trim-frame-start 5000 and --trim-frame-end \d+ leave no frame of the video's \d+/,
      ),
    ]);
  });

  it('--output-video-fps 24 of a 30 fps video: the frames FaceFusion keeps, at n/24 s, the audio as long', async () => {
    const input = await cfrWithAudio(dir());
    const { output, report, stderr } = await run(input, 'fps24', [
      ...['--workers', '2', '--chunk-frames', '20', '--checkpoint-frames', '7'],
      ...['--output-video-fps', '24'],
    ]);
    // Tasks start on kept frames; the report counts source frames, each once, and the last line says so.
    expect(report).toMatchObject({ state: 'completed', frames: 90, framesRedone: 0 });
    expect(stderr).toMatch(/done: .*fps24\.mp4 — 90 source frames \(output at 24 fps\) in /);
    const pts = await probeFramesPts(output);
    expect(pts).toEqual(Array.from({ length: 72 }, (_, n) => expect.closeTo(n / 24, 4)));
    const video = (await probeStreams(output)).find((s) => s.codec_type === 'video');
    expect(video?.r_frame_rate).toBe('24/1');
    // Frame by frame, the pictures of ffmpeg's fps filter, which FaceFusion extracts with.
    const reference = join(dir(), 'fps24-reference.mkv');
    await ffmpeg([...['-i', input, '-vf', 'fps=24', '-an', '-c:v', 'ffv1', reference]]);
    const each = await framePsnr(output, reference);
    expect(each).toHaveLength(72);
    expect(Math.min(...each)).toBeGreaterThan(35);
    const audio = streamDuration(await probeStreams(output), 'audio');
    expect(audio).toHaveLength(2);
    for (const d of audio) expect(Math.abs(d - 3)).toBeLessThan(1 / 24);
  });

  it('--output-video-fps 30 of a 25 fps video repeats one frame in five; with a trim range, from its start', async () => {
    const input = await noAudio(dir());
    const { output } = await run(input, 'fps30', [
      ...['--chunk-frames', '9', '--checkpoint-frames', '4', '--output-video-fps', '30'],
      ...['--trim-frame-start', '10', '--trim-frame-end', '35'],
    ]);
    const pts = await probeFramesPts(output);
    expect(pts).toEqual(Array.from({ length: 30 }, (_, n) => expect.closeTo(n / 30, 4)));
    const reference = join(dir(), 'fps30-reference.mkv');
    await ffmpeg([
      ...['-i', input, '-vf', 'trim=start_frame=10:end_frame=35,setpts=PTS-STARTPTS,fps=30'],
      // The 2018 ffmpeg's fps filter goes on repeating the last frame past the trimmed range's end.
      ...['-frames:v', '30', '-c:v', 'ffv1', reference],
    ]);
    const each = await framePsnr(output, reference);
    expect(each).toHaveLength(30);
    expect(Math.min(...each)).toBeGreaterThan(35);
  });

  it('--output-video-fps 2 of a 30 fps video: one frame in 15 kept, each the right picture', async () => {
    const input = await cfrWithAudio(dir());
    // More dropped frames in a row than the decoder has buffers for the frames in the chain.
    const { output } = await run(input, 'fps2', ['--output-video-fps', '2', '--frames-in-flight', '3']);
    expect(await probeFramesPts(output)).toEqual([0, 0.5, 1, 1.5, 2, 2.5].map((t) => expect.closeTo(t, 4)));
    const reference = join(dir(), 'fps2-reference.mkv');
    await ffmpeg([...['-i', input, '-vf', 'fps=2', '-an', '-c:v', 'ffv1', reference]]);
    const each = await framePsnr(output, reference);
    expect(each).toHaveLength(6);
    expect(Math.min(...each)).toBeGreaterThan(35);
  });

  it('--output-video-fps of a variable-rate video: one frame every 1/20 s, and a bad rate is one line', async () => {
    const input = await variableFrameRate(dir());
    const { output } = await run(input, 'vfr-fps', ['--chunk-frames', '10', '--output-video-fps', '20']);
    // 3 s: 30 fps, 15 fps, 24 fps, each second resampled to 20 frames.
    expect(await probeFramesPts(output)).toEqual(
      Array.from({ length: 60 }, (_, n) => expect.closeTo(n / 20, 4)),
    );
    const refused = await runCli(
      ['run', '-t', input, '-o', join(dir(), 'none.mp4'), '--state-dir', join(dir(), 'state-bad-fps')].concat(
        ['--processors', 'passthrough', '--output-video-fps', '75'],
      ),
      dir(),
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/--output-video-fps.*must be a number from 1 to 60/),
    ]);
  });

  it('stores a rotated phone video upright with the same display size', async () => {
    const input = await rotated90(dir());
    const { output } = await run(input, 'rotated', ['--chunk-frames', '30']);
    const [source, result] = await Promise.all([probeVideo(input), probeVideo(output)]);
    expect(source.video.rotation).toBe(90);
    expect(result.video.rotation).toBe(0);
    expect([result.video.width, result.video.height]).toEqual([source.video.width, source.video.height]);
    expect(await psnr(output, input)).toBeGreaterThan(35);
  });

  it('keeps odd sizes exactly', async () => {
    const input = await oddSize(dir());
    const { output } = await run(input, 'odd', ['--chunk-frames', '20']);
    const result = await probeVideo(output);
    expect([result.video.width, result.video.height]).toEqual([853, 481]);
    expect(await psnr(output, input)).toBeGreaterThan(35);
  });

  it.each([
    ['10-bit 4:2:0', tenBit, 'yuv420p10le'],
    ['8-bit 4:4:4', yuv444p, 'yuv444p'],
  ])('keeps the pixel format of %s sources', async (_, make, pixFmt) => {
    const input = await make(dir());
    const { output } = await run(input, `fmt-${pixFmt}`, ['--chunk-frames', '30']);
    expect((await probeVideo(output)).video.sourcePixFmt).toBe(pixFmt);
    await expectSameTimeline(input, output);
    expect(await psnr(output, input)).toBeGreaterThan(35);
  });

  it('says a finished job is already done instead of redoing it, unless its output changed or --force', async () => {
    const input = await noAudio(dir());
    const first = await run(input, 'again', ['--workers', '1']);
    expect(first.report.state).toBe('completed');
    expect(first.stderr).toMatch(
      /done: .*again\.mp4 — 50 frames in \d+m\d\ds, 1 chunk, 1 segment, 0 interruptions, 0 failures, 0 frames redone/,
    );
    expect(first.report.runSeconds).toBeGreaterThan(0);
    expect(first.report.runSeconds).toBeLessThanOrEqual(first.report.wallSeconds);
    const logs = join(dir(), 'state-again', 'logs');
    const workersStarted = () => readdirSync(logs).length;
    const started = workersStarted();
    const before = statSync(first.output);

    const rerun = await run(input, 'again', ['--workers', '1']);
    expect(rerun.stderr).toContain(
      `already done: ${first.output} is unchanged since job ${first.report.jobId}`,
    );
    expect(rerun.stderr).toMatch(/--force does it again/);
    expect(rerun.report).toMatchObject({ jobId: first.report.jobId, state: 'completed', frames: 50 });
    const after = statSync(first.output);
    expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
    expect(workersStarted()).toBe(started);

    const forced = await run(input, 'again', ['--workers', '1', '--force']);
    expect(forced.stderr).not.toMatch(/already done/);
    expect(forced.report.jobId).not.toBe(first.report.jobId);
    expect(forced.report).toMatchObject({ state: 'completed', frames: 50 });
    expect(workersStarted()).toBeGreaterThan(started);

    // An output changed or gone since is made again.
    appendFileSync(first.output, Buffer.from([0]));
    const changed = await run(input, 'again', ['--workers', '1']);
    expect(changed.stderr).not.toMatch(/already done/);
    expect(changed.report.jobId).not.toBe(forced.report.jobId);
    rmSync(first.output);
    const deleted = await run(input, 'again', ['--workers', '1']);
    expect(deleted.stderr).not.toMatch(/already done/);
    expect(deleted.report.jobId).not.toBe(changed.report.jobId);
    expect(await probeFramesPts(first.output)).toHaveLength(50);
    expect((await run(input, 'again', ['--workers', '1'])).stderr).toMatch(/already done/);
  });

  it('handles a video without audio', async () => {
    const input = await noAudio(dir());
    const { output, report } = await run(input, 'silent');
    expect(report.state).toBe('completed');
    const streams = await probeStreams(output);
    expect(streams.map((s) => s.codec_type)).toEqual(['video']);
  });
});
