import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * NVENC and NVDEC go through the ordinary options (`--output-video-encoder h264_nvenc`, `--decoder-hwaccel
 * cuda`). With an ffmpeg that has neither (the real one, with CUDA left out of its lists), each is refused in
 * one line before anything runs: no job queued, no output, no worker left waiting for work.
 */

const dir = useTempDir();

/** The real ffmpeg, except that `-encoders` and `-hwaccels` leave out NVIDIA's encoders and CUDA. */
function ffmpegWithoutNvidia(): string {
  const path = join(dir(), 'ffmpeg-without-nvidia');
  writeFileSync(
    path,
    `#!/bin/sh\n"${resolveBinaries().ffmpeg}" "$@" | grep -v -e nvenc -e '^cuda$'\nexit 0\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

describe('hardware encoders and decoders with an ffmpeg that lacks them', () => {
  it('run refuses --output-video-encoder h264_nvenc and --decoder-hwaccel cuda in one line', async () => {
    const input = await cfrWithAudio(dir());
    const env = { SPOTFUSE_FFMPEG: ffmpegWithoutNvidia() };
    const run = (extra: string[]) => {
      const stateDir = join(dir(), `state-${extra.join('-')}`);
      const output = join(dir(), `out-${extra[1]}.mp4`);
      const args = ['run', '-t', input, '-o', output, '--processors', 'passthrough', '--state-dir', stateDir];
      return { result: runCli([...args, ...extra], dir(), env), stateDir, output };
    };

    const nvenc = run(['--output-video-encoder', 'h264_nvenc']);
    const encoded = await nvenc.result;
    expect(encoded.code).not.toBe(0);
    expect(encoded.stderr.trim()).toBe(
      'spotfuse: error: unknown --output-video-encoder "h264_nvenc": this ffmpeg has no such encoder',
    );
    expect(existsSync(nvenc.output)).toBe(false);

    const nvdec = run(['--decoder-hwaccel', 'cuda']);
    const decoded = await nvdec.result;
    expect(decoded.code).not.toBe(0);
    expect(decoded.stderr.trim()).toMatch(
      /^spotfuse: error: --decoder-hwaccel cuda: \S+ffmpeg-without-nvidia has no such hwaccel \(it has [a-z0-9, ]+\)$/,
    );
    expect(existsSync(join(nvdec.stateDir, 'state.db'))).toBe(false);
  }, 60_000);

  it('worker refuses --decoder-hwaccel cuda in one line before asking for work', async () => {
    const env = { SPOTFUSE_FFMPEG: ffmpegWithoutNvidia(), SPOTFUSE_TOKEN: 'unused' };
    // Nothing listens on this port: a worker that got as far as claiming would report that instead.
    const result = await runCli(
      ['worker', '--server', 'http://127.0.0.1:9', '--decoder-hwaccel', 'cuda'],
      dir(),
      env,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toMatch(
      /^spotfuse: error: --decoder-hwaccel cuda: \S+ has no such hwaccel \(it has .+\)$/,
    );
  }, 60_000);
});
