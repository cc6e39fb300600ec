import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { videoEncoders } from '../../src/media/encoders.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { cfrWithAudio, noAudio, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/** Every decoded video frame, as raw planar YUV in the given layout, one after the other. */
async function decodedFrames(path: string, pixFmt: string): Promise<Buffer> {
  const args = [
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
  ];
  return runTool(resolveBinaries().ffmpeg, [...args, 'pipe:1'], { failure: 'decode' });
}

async function expectSameTimeline(input: string, output: string): Promise<void> {
  const [a, b] = await Promise.all([probeFramesPts(input), probeFramesPts(output)]);
  expect(b).toHaveLength(a.length);
  // Matroska keeps milliseconds, QuickTime the source's own clock.
  expect(Math.max(...a.map((t, i) => Math.abs(t - b[i])))).toBeLessThan(0.001);
}

/** Skips (and says why) when this ffmpeg lacks the encoder. */
async function needEncoder(encoder: string, skip: (note: string) => void): Promise<void> {
  if (!(await videoEncoders()).has(encoder)) {
    const note = `${resolveBinaries().ffmpeg} has no ${encoder} encoder`;
    console.warn(`skipped: ${note}`);
    skip(note);
  }
}

describe('spotfuse run to lossless and professional masters', () => {
  const dir = useTempDir();

  async function run(input: string, output: string, encoder: string) {
    const report = join(dir(), `${encoder}.json`);
    const result = await runCli(
      [
        ...[
          'run',
          '-t',
          input,
          '-o',
          output,
          '--output-video-encoder',
          encoder,
          '--processors',
          'passthrough',
        ],
        ...['--state-dir', join(dir(), `state-${encoder}`), '--report', report],
        ...['--workers', '2', '--chunk-frames', '20', '--checkpoint-frames', '7'],
      ],
      dir(),
    );
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.code).toBe(0);
    return JSON.parse(readFileSync(report, 'utf8'));
  }

  it('writes FFV1 into .mkv whose frames decode to exactly the input frames, at the same times', async (ctx) => {
    await needEncoder('ffv1', ctx.skip);
    const input = await noAudio(dir());
    const output = join(dir(), 'master.mkv');
    const report = await run(input, output, 'ffv1');
    // Three chunks of up to 20 frames and the merge, each done at the first attempt.
    expect(report).toMatchObject({ state: 'completed', frames: 50, tasks: 3, attempts: 4, failures: 0 });
    const [video] = await probeStreams(output);
    expect(video).toMatchObject({ codec_name: 'ffv1', pix_fmt: 'yuv420p' });
    const [source, master] = await Promise.all([
      decodedFrames(input, 'yuv420p'),
      decodedFrames(output, 'yuv420p'),
    ]);
    expect(master.length).toBe(source.length);
    expect(master.equals(source)).toBe(true);
    await expectSameTimeline(input, output);
  });

  it('writes ProRes into .mov with every frame, its timestamps and both audio streams', async (ctx) => {
    await needEncoder('prores_ks', ctx.skip);
    const input = await cfrWithAudio(dir());
    const output = join(dir(), 'master.mov');
    const report = await run(input, output, 'prores_ks');
    expect(report).toMatchObject({ state: 'completed', frames: 90, failures: 0 });
    const streams = await probeStreams(output);
    expect(streams.map((s) => [s.codec_type, s.codec_name])).toEqual([
      ['video', 'prores'],
      ['audio', 'aac'],
      ['audio', 'aac'],
    ]);
    expect(streams[0].pix_fmt).toBe('yuv422p10le');
    const inAudio = (await probeStreams(input)).filter((s) => s.codec_type === 'audio');
    streams.slice(1).forEach((s, i) => {
      expect(s.channels).toBe(inAudio[i].channels);
      expect(Math.abs(Number(s.duration) - Number(inAudio[i].duration))).toBeLessThan(1 / 30);
    });
    await expectSameTimeline(input, output);
  });

  it('refuses FFV1 into .mp4 in one line before anything is queued', async () => {
    const input = await noAudio(dir());
    const state = join(dir(), 'state-refused');
    const output = join(dir(), 'refused.mp4');
    const result = await runCli(
      [
        ...['run', '-t', input, '-o', output, '--output-video-encoder', 'ffv1'],
        ...['--processors', 'passthrough', '--state-dir', state],
      ],
      dir(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      'spotfuse: error: a .mp4 output cannot hold FFV1 video from ffv1: use .mov or .mkv',
    ]);
    expect(existsSync(output)).toBe(false);
    const db = join(state, 'state.db');
    if (existsSync(db)) {
      const store = new Database(db, { readonly: true });
      try {
        expect(store.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 0 });
        expect(store.prepare('SELECT count(*) AS n FROM tasks').get()).toEqual({ n: 0 });
      } finally {
        store.close();
      }
    }
  });
});
