import { execFileSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { MediaError } from './errors.js';

export interface Binaries {
  ffmpeg: string;
  ffprobe: string;
  ffmpegVersion: { major: number; minor: number } | null;
}

let cached: Binaries | undefined;

/** Locates ffmpeg and ffprobe: environment, then PATH, then the bundled installer packages. */
export function resolveBinaries(): Binaries {
  if (!cached) {
    const ffmpeg = locate('ffmpeg', 'SPOTFUSE_FFMPEG', '@ffmpeg-installer/ffmpeg');
    const ffprobe = locate('ffprobe', 'SPOTFUSE_FFPROBE', '@ffprobe-installer/ffprobe');
    cached = { ffmpeg, ffprobe, ffmpegVersion: knownVersion(ffmpeg) };
  }
  return cached;
}

/** Output options that pass every decoded frame through once, with its own timestamp. */
export function passthroughTimingArgs(): string[] {
  const version = resolveBinaries().ffmpegVersion;
  const hasFpsMode = version !== null && (version.major > 5 || (version.major === 5 && version.minor >= 1));
  return hasFpsMode ? ['-fps_mode', 'passthrough'] : ['-vsync', '0'];
}

function locate(name: string, envVar: string, installerPackage: string): string {
  const fromEnv = process.env[envVar];
  if (fromEnv) return fromEnv;
  const onPath = findOnPath(name);
  if (onPath) return onPath;
  try {
    const installer = createRequire(import.meta.url)(installerPackage) as { path: string };
    return installer.path;
  } catch {
    throw new MediaError(`${name} not found: install it, put it on PATH or set ${envVar}`);
  }
}

function findOnPath(name: string): string | undefined {
  const executable = process.platform === 'win32' ? `${name}.exe` : name;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, executable);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/**
 * Where a process leaves the version of its ffmpeg for the processes and threads it starts (they inherit
 * its environment), so that a run, its worker and the worker's processor threads run `-version` once.
 */
const VERSION_ENV = 'SPOTFUSE_FFMPEG_VERSION_SEEN';

/** The binary as its version is tied to: a replaced or updated file is read again. */
function fileIdentity(path: string): string | undefined {
  try {
    const { size, mtimeMs, ino } = statSync(path);
    return `${path}|${size}|${mtimeMs}|${ino}`;
  } catch {
    return undefined;
  }
}

function knownVersion(ffmpeg: string): Binaries['ffmpegVersion'] {
  const identity = fileIdentity(ffmpeg);
  if (identity !== undefined) {
    try {
      const seen = JSON.parse(process.env[VERSION_ENV] ?? '{}') as { identity?: string; version?: unknown };
      if (seen.identity === identity) return seen.version as Binaries['ffmpegVersion'];
    } catch {}
  }
  const version = readVersion(ffmpeg);
  if (identity !== undefined) process.env[VERSION_ENV] = JSON.stringify({ identity, version });
  return version;
}

function readVersion(ffmpeg: string): Binaries['ffmpegVersion'] {
  try {
    return parseFfmpegVersion(execFileSync(ffmpeg, ['-hide_banner', '-version'], { encoding: 'utf8' }));
  } catch {
    return null;
  }
}

// First libavutil minor version of each release, newest first: git builds ("N-47683-g0e8eb07980")
// carry no release number, but their libavutil version places them between two releases.
const AVUTIL_RELEASES: [avutilMajor: number, avutilMinor: number, major: number, minor: number][] = [
  [60, 0, 8, 0],
  [59, 39, 7, 1],
  [59, 0, 7, 0],
  [58, 29, 6, 1],
  [58, 0, 6, 0],
  [57, 28, 5, 1],
  [57, 0, 5, 0],
  [56, 70, 4, 4],
  [56, 51, 4, 3],
  [56, 31, 4, 2],
  [56, 22, 4, 1],
  [56, 0, 4, 0],
];

export function parseFfmpegVersion(versionOutput: string): Binaries['ffmpegVersion'] {
  const release = /ffmpeg version n?(\d+)\.(\d+)/.exec(versionOutput);
  if (release) return { major: Number(release[1]), minor: Number(release[2]) };
  const avutil = /libavutil\s+(\d+)\.\s*(\d+)\./.exec(versionOutput);
  if (!avutil) return null;
  const [libMajor, libMinor] = [Number(avutil[1]), Number(avutil[2])];
  for (const [avMajor, avMinor, major, minor] of AVUTIL_RELEASES) {
    if (libMajor > avMajor || (libMajor === avMajor && libMinor >= avMinor)) return { major, minor };
  }
  return null;
}
