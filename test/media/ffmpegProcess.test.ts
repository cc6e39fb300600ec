import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { MediaError } from '../../src/media/errors.js';
import { relevantLine, runTool, spawnTool } from '../../src/media/ffmpegProcess.js';

describe('relevantLine', () => {
  it('picks the line that names the problem, without the [component @ 0x…] prefix', () => {
    const stderr = [
      '[h264 @ 0x55d0c1a2b3c0] Invalid NAL unit size (1368 > 431).',
      '[libx264 @ 0x55d0c1a2b3c0] width not divisible by 2 (853x481)',
      'Error initializing output stream 0:0 -- Error while opening encoder for output stream #0:0',
      'Conversion failed!',
      '',
    ].join('\n');
    expect(relevantLine(stderr)).toBe('width not divisible by 2 (853x481)');
    const webm = [
      '[webm @ 0xfa56040] Only VP8 or VP9 or AV1 video and Vorbis or Opus audio are supported for WebM.',
      'Could not write header for output file #0 (incorrect codec parameters ?): Invalid argument',
      'Error initializing output stream 0:2 -- ',
    ].join('\n');
    expect(relevantLine(webm)).toBe(
      'Only VP8 or VP9 or AV1 video and Vorbis or Opus audio are supported for WebM.',
    );
    expect(relevantLine('[mov,mp4,m4a,3gp,3g2,mj2 @ 0x2f42f200] moov atom not found\n')).toBe(
      'moov atom not found',
    );
    expect(relevantLine('Conversion failed!\n')).toBe('Conversion failed!');
    expect(relevantLine('')).toBeUndefined();
  });
});

describe('spawnTool', () => {
  it('turns a failed run into a one-line MediaError', async () => {
    const error = await runTool(
      resolveBinaries().ffmpeg,
      ['-v', 'error', '-i', '/nonexistent/in.mp4', '-f', 'null', '-'],
      {
        failure: 'cannot read /nonexistent/in.mp4',
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MediaError);
    expect((error as Error).message).toBe(
      'cannot read /nonexistent/in.mp4: /nonexistent/in.mp4: No such file or directory',
    );
  });

  it('reports a binary that cannot be started', async () => {
    await expect(spawnTool('/nonexistent/ffmpeg', [], { failure: 'cannot probe' }).done).rejects.toThrow(
      /^cannot probe: cannot run \/nonexistent\/ffmpeg: .*ENOENT/,
    );
  });

  it('kills the child when the signal aborts and rejects with its reason', async () => {
    const controller = new AbortController();
    const tool = spawnTool(
      resolveBinaries().ffmpeg,
      ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=d=60', '-f', 'null', '-'],
      { failure: 'test', signal: controller.signal },
    );
    const reason = new Error('stop');
    setTimeout(() => controller.abort(reason), 100);
    await expect(tool.done).rejects.toBe(reason);
    expect(tool.child.signalCode).toBe('SIGKILL');
  });

  it('returns stdout in full', async () => {
    const out = await runTool(
      resolveBinaries().ffmpeg,
      [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=s=16x16:d=1',
        '-frames:v',
        '2',
        '-f',
        'rawvideo',
        '-pix_fmt',
        'gray',
        'pipe:1',
      ],
      {
        failure: 'test',
      },
    );
    expect(out.length).toBe(2 * 16 * 16);
  });
});
