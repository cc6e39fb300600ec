import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { mergeSegments } from '../../src/media/merge.js';
import { probeVideo } from '../../src/media/probe.js';
import { cfrWithAudio, ffmpeg, noAudio, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { processSegments } from './pipeline.js';

const dir = useTempDir();

async function segmentsOf(source: string, name: string, encoder?: string) {
  const probe = await probeVideo(source);
  return {
    probe,
    segments: await processSegments(source, probe, dir(), { tasks: 2, segmentsPerTask: 1, name, encoder }),
  };
}

const audioCodecs = async (path: string) =>
  (await probeStreams(path)).filter((s) => s.codec_type === 'audio').map((s) => s.codec_name);

describe('mergeSegments', () => {
  it('writes mp4 with the index first and copies AAC', async () => {
    const source = await cfrWithAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'mp4');
    const outputPath = join(dir(), 'out.mp4');
    await mergeSegments({ segments, source, probe, outputPath });
    const bytes = await readFile(outputPath);
    expect(bytes.indexOf('moov')).toBeLessThan(bytes.indexOf('mdat'));
    expect(await audioCodecs(outputPath)).toEqual(['aac', 'aac']);
  });

  it('copies audio into Matroska and QuickTime', async () => {
    const source = await cfrWithAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'containers');
    for (const name of ['out.mkv', 'out.mov']) {
      const outputPath = join(dir(), name);
      await mergeSegments({ segments, source, probe, outputPath });
      expect(await audioCodecs(outputPath)).toEqual(['aac', 'aac']);
      expect(await probeFramesPts(outputPath)).toHaveLength(90);
    }
  });

  it('encodes audio the container cannot hold: FLAC to AAC in mp4, AAC to Opus in WebM', async () => {
    const source = join(dir(), 'flac-audio.mkv');
    await ffmpeg([
      '-i',
      await noAudio(dir()),
      '-f',
      'lavfi',
      '-i',
      'sine=d=2',
      '-c:v',
      'copy',
      '-c:a',
      'flac',
      source,
    ]);
    const { probe, segments } = await segmentsOf(source, 'flac');
    const mp4 = join(dir(), 'from-flac.mp4');
    await mergeSegments({ segments, source, probe, outputPath: mp4 });
    expect(await audioCodecs(mp4)).toEqual(['aac']);

    const vp9 = await segmentsOf(await cfrWithAudio(dir()), 'vp9', 'libvpx-vp9');
    const webm = join(dir(), 'out.webm');
    await mergeSegments({ ...vp9, source: await cfrWithAudio(dir()), outputPath: webm });
    expect(await audioCodecs(webm)).toEqual(['opus', 'opus']);
    expect(await probeFramesPts(webm)).toHaveLength(90);
  });

  it('joins HEVC segments', async () => {
    const source = await noAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'hevc', 'libx265');
    const outputPath = join(dir(), 'hevc.mp4');
    await mergeSegments({ segments, source, probe, outputPath });
    expect((await probeStreams(outputPath))[0]).toMatchObject({
      codec_name: 'hevc',
      width: 320,
      height: 240,
    });
    expect((await probeVideo(outputPath)).video.framePts).toEqual(probe.video.framePts);
  });

  it('quotes segment paths with quotes and spaces', async () => {
    const source = await noAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'quoted');
    const renamed = await Promise.all(
      segments.map(async (s, i) => {
        const path = join(dir(), `it's segment ${i}.mp4`);
        await copyFile(s.path, path);
        return { ...s, path };
      }),
    );
    const outputPath = join(dir(), 'quoted.mp4');
    await mergeSegments({ segments: renamed, source, probe, outputPath });
    expect(await probeFramesPts(outputPath)).toHaveLength(50);
  });

  it('leaves an existing output untouched and no partial file behind when it fails', async () => {
    const source = await cfrWithAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'h264-for-webm');
    const outputPath = join(dir(), 'kept.webm');
    await writeFile(outputPath, 'previous result');
    const error = await mergeSegments({ segments, source, probe, outputPath }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as Error).message).toMatch(
      new RegExp(`^cannot merge ${outputPath}: Only VP8 or VP9 .*WebM`),
    );
    expect(await readFile(outputPath, 'utf8')).toBe('previous result');
    expect((await readdir(dir())).filter((name) => name.includes('.partial-'))).toEqual([]);
  });

  it('refuses an output format it does not know', async () => {
    const source = await noAudio(dir());
    const probe = await probeVideo(source);
    const outputPath = join(dir(), 'out.avi');
    await expect(mergeSegments({ segments: [], source, probe, outputPath })).rejects.toThrow(
      /^unsupported output format: .*out\.avi \(use \.mp4, \.m4v, \.mov, \.mkv, \.webm\)$/,
    );
  });

  it('stops when the signal aborts', async () => {
    const source = await cfrWithAudio(dir());
    const { probe, segments } = await segmentsOf(source, 'aborted');
    const outputPath = join(dir(), 'aborted.mp4');
    const reason = new Error('canceled');
    await expect(
      mergeSegments({ segments, source, probe, outputPath, signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    expect((await readdir(dir())).filter((name) => name.startsWith('aborted.mp4'))).toEqual([]);
  });
});
