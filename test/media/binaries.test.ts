import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseFfmpegVersion, passthroughTimingArgs, resolveBinaries } from '../../src/media/binaries.js';

const avutil = (major: number, minor: number) =>
  `libavutil      ${major}. ${minor}.100 / ${major}. ${minor}.100`;

describe('parseFfmpegVersion', () => {
  it.each([
    [
      `ffmpeg version N-47683-g0e8eb07980-static https://johnvansickle.com/ffmpeg/  Copyright (c) 2000-2018 the FFmpeg developers\n${avutil(56, 24)}`,
      { major: 4, minor: 1 },
    ],
    [
      `ffmpeg version 6.1.1-3ubuntu5 Copyright (c) 2000-2023 the FFmpeg developers\n${avutil(58, 29)}`,
      { major: 6, minor: 1 },
    ],
    ['ffmpeg version n7.0.2 Copyright (c) 2000-2024 the FFmpeg developers', { major: 7, minor: 0 }],
    ['ffmpeg version 4.4.2-0ubuntu0.22.04.1 Copyright (c) 2000-2021', { major: 4, minor: 4 }],
    [`ffmpeg version N-106000-gabc Copyright (c) 2000-2022\n${avutil(57, 24)}`, { major: 5, minor: 0 }],
    [`ffmpeg version git-2024-10-01 Copyright (c) 2000-2024\n${avutil(59, 39)}`, { major: 7, minor: 1 }],
    ['not ffmpeg at all', null],
  ])('%#', (output, version) => {
    expect(parseFfmpegVersion(output)).toEqual(version);
  });
});

describe('resolveBinaries', () => {
  const saved = { ...process.env };
  const dirs: string[] = [];
  afterEach(async () => {
    process.env = { ...saved };
    vi.resetModules();
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  async function fakeTool(dir: string, name: string, versionLine: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\necho '${versionLine}'\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('finds working binaries and caches them', () => {
    const binaries = resolveBinaries();
    expect(binaries.ffmpeg).toMatch(/ffmpeg/);
    expect(binaries.ffprobe).toMatch(/ffprobe/);
    expect(binaries.ffmpegVersion).not.toBeNull();
    expect(resolveBinaries()).toBe(binaries);
    const { major, minor } = binaries.ffmpegVersion!;
    const modern = major > 5 || (major === 5 && minor >= 1);
    expect(passthroughTimingArgs()).toEqual(modern ? ['-fps_mode', 'passthrough'] : ['-vsync', '0']);
  });

  it('prefers the environment, then PATH, over the bundled binaries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spotfuse-bin-'));
    dirs.push(dir);
    const ffmpeg = await fakeTool(dir, 'ffmpeg', 'ffmpeg version 6.1.1 Copyright (c) 2000-2023');
    // On PATH too, but the environment wins.
    await fakeTool(dir, 'ffprobe', 'ffprobe version 6.1.1');
    process.env.PATH = dir;
    process.env.SPOTFUSE_FFPROBE = '/opt/custom/ffprobe';
    delete process.env.SPOTFUSE_FFMPEG;
    const fresh = await import('../../src/media/binaries.js');
    expect(fresh.resolveBinaries()).toEqual({
      ffmpeg,
      ffprobe: '/opt/custom/ffprobe',
      ffmpegVersion: { major: 6, minor: 1 },
    });
    expect(fresh.passthroughTimingArgs()).toEqual(['-fps_mode', 'passthrough']);
  });

  it('runs -version once per ffmpeg file for this process and those it starts, again when the file changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spotfuse-bin-'));
    dirs.push(dir);
    const runs = join(dir, 'runs');
    const ffmpeg = join(dir, 'ffmpeg');
    const writeTool = (version: string) =>
      writeFile(ffmpeg, `#!/bin/sh\necho run >> '${runs}'\necho 'ffmpeg version ${version} Copyright'\n`);
    await writeTool('6.1.1');
    await chmod(ffmpeg, 0o755);
    process.env.SPOTFUSE_FFMPEG = ffmpeg;
    process.env.SPOTFUSE_FFPROBE = '/opt/custom/ffprobe';
    const runCount = async () => (await readFile(runs, 'utf8')).split('\n').filter(Boolean).length;
    // Each fresh module is a process (or thread) that inherited this one's environment.
    const fresh = async () => {
      vi.resetModules();
      return (await import('../../src/media/binaries.js')).resolveBinaries().ffmpegVersion;
    };
    expect(await fresh()).toEqual({ major: 6, minor: 1 });
    expect(await fresh()).toEqual({ major: 6, minor: 1 });
    expect(await runCount()).toBe(1);
    await writeTool('5.0');
    expect(await fresh()).toEqual({ major: 5, minor: 0 });
    expect(await runCount()).toBe(2);
  });
});
