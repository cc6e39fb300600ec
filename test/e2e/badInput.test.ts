import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cfrWithAudio, notAVideo, stillImage, truncated } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

describe('spotfuse run with bad input', () => {
  const dir = useTempDir();

  /** One clear line on stderr, a non-zero exit, no stack trace, no output written. */
  async function expectOneLineError(args: string[], pattern: RegExp, output = join(dir(), 'never.mp4')) {
    const before = existsSync(output) ? statSync(output).mtimeMs : undefined;
    const result = await runCli(
      ['run', '-o', output, '--state-dir', join(dir(), 'state'), '--processors', 'passthrough', ...args],
      dir(),
    );
    expect(result.code).not.toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^spotfuse: /);
    expect(lines[0]).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(output) ? statSync(output).mtimeMs : undefined).toBe(before);
    return result;
  }

  it('rejects a missing video', async () => {
    await expectOneLineError(['-t', join(dir(), 'nope.mp4')], /not found.*nope\.mp4/);
  });

  it('rejects a file that is not a video', async () => {
    await expectOneLineError(['-t', await notAVideo(dir())], /not-a-video\.txt/);
    await expectOneLineError(['-t', await stillImage(dir())], /still\.png/);
  });

  it('rejects a playlist, a concat script and an image sequence in one line', async () => {
    const video = await cfrWithAudio(dir());
    const hls = join(dir(), 'list.m3u8');
    writeFileSync(
      hls,
      `#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3,\n${pathToFileURL(video).href}\n#EXT-X-ENDLIST\n`,
    );
    await expectOneLineError(
      ['-t', hls],
      /not a video: .*list\.m3u8 \(an HLS playlist; spotfuse reads one self-contained video file/,
    );
    const concat = join(dir(), 'list.txt');
    writeFileSync(concat, `ffconcat version 1.0\nfile '${video}'\n`);
    await expectOneLineError(['-t', concat], /not a video: .*list\.txt \(a concat script; /);
    await expectOneLineError(
      ['-t', join(dir(), 'frame%04d.png')],
      /not a video: .*frame%04d\.png \(an image sequence; /,
    );
  });

  it('rejects a truncated video', async () => {
    await expectOneLineError(['-t', await truncated(dir())], /truncated\.mp4/);
  });

  it('rejects a source that is not an image', async () => {
    const video = await cfrWithAudio(dir());
    await expectOneLineError(['-t', video, '-s', await notAVideo(dir())], /not an image.*not-a-video\.txt/);
    await expectOneLineError(['-t', video, '-s', join(dir(), 'face.jpg')], /source image not found/);
  });

  it('rejects an output that cannot be written', async () => {
    const video = await cfrWithAudio(dir());
    await expectOneLineError(
      ['-t', video],
      /output directory does not exist/,
      join(dir(), 'missing', 'out.mp4'),
    );
    const folder = join(dir(), 'a-folder.mp4');
    mkdirSync(folder, { recursive: true });
    await expectOneLineError(['-t', video], /output is a directory/, folder);
    await expectOneLineError(['-t', video], /output must end in/, join(dir(), 'out.gif'));
    await expectOneLineError(
      ['-t', video],
      /webm output needs a VP8, VP9 or AV1 encoder/,
      join(dir(), 'out.webm'),
    );
    await expectOneLineError(['-t', video], /overwrite the input/, video);
  });

  it('rejects unknown processors and bad options', async () => {
    const video = await cfrWithAudio(dir());
    await expectOneLineError(
      ['-t', video, '--processors', 'passthrough,face_swaper'],
      /unknown processor "face_swaper"/,
    );
    await expectOneLineError(['-t', video, '--checkpoint-frames', '0'], /checkpoint-frames/);
    await expectOneLineError(['-t', video, '--output-video-quality', '101'], /output-video-quality/);
    await expectOneLineError(['-t', video, '--output-video-preset', 'warp'], /output-video-preset/);
    await expectOneLineError(['-t', video, '--webhook', 'ftp://127.0.0.1/hook'], /webhook URL is http/);
    await expectOneLineError(['-t', video, '--email', 'ops@example.com'], /--email needs an SMTP server/);
    await expectOneLineError(['-t', video, '--chunk-frames', '10', '--chunk-seconds', '1'], /not both/);
    await expectOneLineError(['-t', video, '--deadline', '2h'], /--deadline needs --server/);
    await expectOneLineError(['-t', video, '--deadline', 'yesterday'], /--deadline.*must be a duration/);
  });

  it('rejects bad face options before any work', async () => {
    const video = await cfrWithAudio(dir());
    const face = ['-t', video, '-s', await stillImage(dir())];
    await expectOneLineError(
      [...face, '--processors', 'face_swapper', '--face-swapper-pixel-boost', '300x300'],
      /face swapper hyperswap_1a_256 takes pixel boosts .*not "300x300"/,
    );
    await expectOneLineError(
      [...face, '--processors', 'face_swapper', '--face-swapper-model', 'roop'],
      /unknown face swapper model "roop"/,
    );
    await expectOneLineError(
      [...face, '--processors', 'face_enhancer', '--face-enhancer-model', 'gfpgan_9'],
      /unknown face enhancer model "gfpgan_9"/,
    );
    await expectOneLineError(
      [
        ...face,
        '--processors',
        'face_enhancer',
        '--face-detector-model',
        'yolo_face',
        '--face-detector-size',
        '320x320',
      ],
      /face detector yolo_face takes sizes 640x640, not "320x320"/,
    );
    await expectOneLineError(
      [...face, '--processors', 'face_swapper', '--face-selector-mode', 'all'],
      /face-selector-mode/,
    );
    await expectOneLineError(
      [...face, '--execution-provider', 'cuda', '--processors', 'face_swapper'],
      /cuda/,
    );
  });

  it('shows the stack trace only with --verbose', async () => {
    const result = await runCli(
      [
        'run',
        '-t',
        join(dir(), 'nope.mp4'),
        '-o',
        join(dir(), 'x.mp4'),
        '--verbose',
        '--state-dir',
        join(dir(), 'state'),
      ],
      dir(),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\n\s+at /);
  });

  it('rejects an encoder this ffmpeg does not have before any work', async () => {
    const video = await cfrWithAudio(dir());
    await expectOneLineError(
      ['-t', video, '--output-video-encoder', 'no_such_encoder'],
      /unknown --output-video-encoder "no_such_encoder"/,
    );
  });
});
