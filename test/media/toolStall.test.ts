import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { MediaError } from '../../src/media/errors.js';
import { spawnTool } from '../../src/media/ffmpegProcess.js';
import { toolStallMs } from '../../src/media/stallWatch.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * Every ffmpeg/ffprobe child is killed when it makes no progress for the configured time: a real stalled
 * input (a named pipe whose writer sends half a stream and then nothing) ends in one clear error naming the
 * file, while a child that only waits for this process (its output unread, its input not yet written) is left
 * alone however long that takes.
 */

const dir = useTempDir();

function stream(name: string, args: string[]): string {
  const path = join(dir(), name);
  execFileSync(resolveBinaries().ffmpeg, ['-v', 'error', ...args, '-y', path]);
  return path;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'latin1').includes(') Z ');
  } catch {
    return false;
  }
}

describe('ffmpeg children without progress', () => {
  it('kills a child stalled on a named pipe and names the file; the writer stays open', async () => {
    const ts = stream('clip.ts', ['-f', 'lavfi', '-i', 'testsrc2=s=160x120:d=4', '-c:v', 'mpeg2video']);
    const fifo = join(dir(), 'stalled.ts');
    execFileSync('mkfifo', [fifo]);
    const tool = spawnTool(
      resolveBinaries().ffmpeg,
      ['-nostdin', '-v', 'error', '-i', fifo, '-f', 'null', '-'],
      {
        failure: `cannot decode ${fifo}`,
        noProgressMs: 500,
      },
    );
    const writer = await open(fifo, 'w');
    try {
      const bytes = readFileSync(ts);
      await writer.write(bytes.subarray(0, bytes.length >> 1));
      const error = await tool.done.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MediaError);
      expect((error as Error).message).toMatch(
        new RegExp(`^cannot decode ${fifo}: no progress for 0\\.5 s, stopped .*SPOTFUSE_TOOL_STALL_SECONDS`),
      );
      expect((error as Error).message).not.toContain('\n');
      expect(tool.child.signalCode).toBe('SIGKILL');
      expect(isAlive(tool.child.pid!)).toBe(false);
    } finally {
      await writer.close();
    }
  }, 30_000);

  it('leaves alone a child that waits for its output to be read or its input to be written', async () => {
    const { ffmpeg } = resolveBinaries();
    const decoder = spawnTool(
      ffmpeg,
      [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        'testsrc2=s=320x240:d=2',
        '-pix_fmt',
        'rgb24',
        '-f',
        'rawvideo',
        'pipe:1',
      ],
      { stdout: true, failure: 'decode', noProgressMs: 250 },
    );
    let read = 0;
    for await (const chunk of decoder.stdout! as AsyncIterable<Buffer>) {
      // The reader (a slow processor) takes six times the limit over its first chunk.
      if (read === 0) await sleep(1500);
      read += chunk.length;
    }
    await decoder.done;
    expect(read).toBe(50 * 320 * 240 * 3);

    const encoder = spawnTool(
      ffmpeg,
      ['-v', 'error', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', '16x16', '-i', 'pipe:0', '-f', 'null', '-'],
      { stdin: true, failure: 'encode', noProgressMs: 250 },
    );
    encoder.stdin!.write(Buffer.alloc(256));
    await sleep(1500);
    encoder.stdin!.end(Buffer.alloc(256));
    await encoder.done;
  }, 30_000);

  it('reads its limit from SPOTFUSE_TOOL_STALL_SECONDS and refuses a bad one in one line', () => {
    expect(toolStallMs({})).toBe(120_000);
    expect(toolStallMs({ SPOTFUSE_TOOL_STALL_SECONDS: '2.5' })).toBe(2500);
    expect(toolStallMs({ SPOTFUSE_TOOL_STALL_SECONDS: '0' })).toBe(0);
    expect(() => toolStallMs({ SPOTFUSE_TOOL_STALL_SECONDS: 'soon' })).toThrow(
      'SPOTFUSE_TOOL_STALL_SECONDS must be a number of seconds (0: no limit), not "soon"',
    );
  });
});
