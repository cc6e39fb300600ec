import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli, startCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * Segment integrity end to end. A segment its encoder wrote undecodable (and exited cleanly) fails its task at
 * its worker: never uploaded, never checkpointed, its frames done again. And a run is interrupted, three of its stored segment blobs are damaged (bytes
 * flipped in the middle of one, another cut in half, a third deleted), and the rerun's merge finds them, queues their frames
 * again, and completes a job whose output holds every frame once with the source's timestamps; the report
 * counts the redone frames and carries the output's SHA-256.
 */

const FRAMES = 300;
const CHUNK = 100;
const CHECKPOINT = 10;

async function video(dir: string): Promise<string> {
  const path = join(dir, 'in.mp4');
  if (!existsSync(path)) {
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=320x240:r=30:d=10',
      '-f',
      'lavfi',
      '-i',
      'sine=f=440:r=48000:d=10',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-g',
      '60',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      path,
    ]);
  }
  return path;
}

interface SegmentRow {
  task_id: string;
  start_frame: number;
  end_frame: number;
  key: string;
  decoded: number | null;
}

/**
 * The real ffmpeg, except that the first segment a worker encodes has 64 bytes in its middle flipped after the
 * encoder is done, which still exits 0.
 */
function ffmpegWritingOneBadSegment(dir: string): string {
  // As the other test flips a stored blob: the decoder complains of these bytes.
  const FLIP_MIDDLE = [
    'const fs = require("node:fs"), path = process.argv[1], bytes = fs.readFileSync(path);',
    'for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 64; i++) bytes[i] ^= 0xff;',
    'fs.writeFileSync(path, bytes);',
  ].join(' ');
  const path = join(dir, 'ffmpeg-one-bad-segment');
  writeFileSync(
    path,
    `#!/bin/sh
"${resolveBinaries().ffmpeg}" "$@" || exit $?
FLIP='${FLIP_MIDDLE}'
for last; do :; done
case "$last" in
  *-e[0-9]*/f[0-9]*.mp4)
    if mkdir "${join(dir, 'bad-segment-written')}" 2>/dev/null; then
      "${process.execPath}" -e "$FLIP" "$last"
    fi
    ;;
esac
exit 0
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function query<T>(stateDir: string, sql: string): T[] {
  const path = join(stateDir, 'state.db');
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } catch {
    return []; // schema not created yet
  } finally {
    db.close();
  }
}

describe('segment integrity', () => {
  const dir = useTempDir();

  it('fails the task of a segment its encoder wrote undecodable at its worker, and completes after the retry', async () => {
    const input = await video(dir());
    const stateDir = join(dir(), 'state-bad-encoder');
    const output = join(dir(), 'out-bad-encoder.mp4');
    const args = ['run', '-t', input, '-o', output, '--state-dir', stateDir, '--processors', 'passthrough'];
    args.push('--chunk-frames', String(CHUNK), '--checkpoint-frames', String(CHECKPOINT));
    const env = { SPOTFUSE_FFMPEG: ffmpegWritingOneBadSegment(dir()) };
    const run = await runCli(args, dir(), env);
    expect(run.code).toBe(0);
    expect(existsSync(join(dir(), 'bad-segment-written'))).toBe(true);

    const attempts = query<{ task_id: string; outcome: string; error: string | null }>(
      stateDir,
      'SELECT task_id, outcome, error FROM attempts ORDER BY id',
    );
    const failed = attempts.filter((a) => a.outcome === 'error');
    expect(failed).toHaveLength(1);
    const [, start, end] = /^segment (\d+)-(\d+) as encoded failed its check: cannot decode: /
      .exec(failed[0].error ?? '')!
      .map(Number);
    expect(end - start).toBe(CHECKPOINT);
    // Its task ran again and completed.
    expect(attempts.filter((a) => a.task_id === failed[0].task_id).map((a) => a.outcome)).toEqual([
      'error',
      'completed',
    ]);
    // The merge never saw it: nothing rejected, every segment recorded once, each decoded by its worker.
    expect(query(stateDir, 'SELECT * FROM rejected_segments')).toEqual([]);
    const segments = query<SegmentRow>(stateDir, 'SELECT * FROM segments ORDER BY start_frame');
    expect(segments.map((s) => [s.start_frame, s.end_frame])).toEqual(
      Array.from({ length: FRAMES / CHECKPOINT }, (_, i) => [i * CHECKPOINT, (i + 1) * CHECKPOINT]),
    );
    expect(segments.every((s) => s.decoded === 1)).toBe(true);

    const pts = await probeFramesPts(output);
    expect(pts).toHaveLength(FRAMES);
    const source = await probeFramesPts(input);
    expect(Math.max(...pts.map((t, i) => Math.abs(t - source[i])))).toBeLessThan(0.001);
  }, 300_000);

  it('re-queues the frames of damaged segment blobs and still completes with every frame once', async () => {
    const input = await video(dir());
    const stateDir = join(dir(), 'state');
    const output = join(dir(), 'out.mp4');
    const reportPath = join(dir(), 'report.json');
    const args = [
      'run',
      '-t',
      input,
      '-o',
      output,
      '--state-dir',
      stateDir,
      '--processors',
      'passthrough',
      '--workers',
      '2',
      '--chunk-frames',
      String(CHUNK),
      '--checkpoint-frames',
      String(CHECKPOINT),
      '--output-video-preset',
      'medium',
      '--report',
      reportPath,
    ];
    const first = startCli(args, dir());
    const segmentsOf = () => query<SegmentRow>(stateDir, 'SELECT * FROM segments ORDER BY start_frame');
    for (;;) {
      const segments = segmentsOf();
      if (new Set(segments.map((s) => s.task_id)).size >= 3) break;
      await sleep(25);
    }
    first.child.kill('SIGINT');
    expect((await first.result).code).toBe(130);

    // The first segment of each of three tasks: bytes flipped in the middle of one, the next cut in half, the
    // last one's blob gone.
    const segments = segmentsOf();
    const [flipped, cut, lost] = [...new Set(segments.map((s) => s.task_id))].map(
      (task) => segments.find((s) => s.task_id === task)!,
    );
    const blob = (s: SegmentRow) => join(stateDir, 'blobs', s.key);
    const bytes = readFileSync(blob(flipped));
    for (let i = bytes.length >> 1; i < (bytes.length >> 1) + 64; i++) bytes[i] ^= 0xff;
    writeFileSync(blob(flipped), bytes);
    truncateSync(blob(cut), statSync(blob(cut)).size >> 1);
    unlinkSync(blob(lost));

    const second = await runCli(args, dir());
    expect(second.stderr).toMatch(/resuming job/);
    expect(second.code).toBe(0);
    expect(`${second.stdout}${second.stderr}`).toMatch(
      /frames redone \(\d+ damaged segments dropped and done again\)/,
    );
    const report = JSON.parse(readFileSync(reportPath, 'utf8'));
    expect(report).toMatchObject({ state: 'completed', frames: FRAMES });

    const rejected = query<SegmentRow & { reason: string }>(
      stateDir,
      'SELECT * FROM rejected_segments ORDER BY id',
    );
    const reasonOf = (s: SegmentRow) => rejected.find((r) => r.key === s.key)?.reason;
    expect(reasonOf(flipped)).toMatch(/SHA-256/);
    expect(reasonOf(cut)).toMatch(/bytes, uploaded/);
    expect(reasonOf(lost)).toMatch(/cannot read the stored blob: ENOENT/);
    // Each damaged segment's task ran again from that segment on; those frames are reported as redone.
    const redone = rejected.reduce((sum, r) => sum + r.end_frame - r.start_frame, 0);
    expect(redone).toBeGreaterThanOrEqual(3 * CHECKPOINT);
    expect(report.segmentsRejected).toBe(rejected.length);
    expect(report.framesRedone).toBeGreaterThanOrEqual(redone);
    // The dropped blobs are gone; the frames they held were processed again into new segments.
    for (const r of rejected) expect(existsSync(blob(r))).toBe(false);

    const pts = await probeFramesPts(output);
    expect(pts).toHaveLength(FRAMES);
    const source = await probeFramesPts(input);
    expect(Math.max(...pts.map((t, i) => Math.abs(t - source[i])))).toBeLessThan(0.001);
    expect((await probeStreams(output)).map((s) => s.codec_type)).toEqual(['video', 'audio']);
    expect(report.outputSha256).toBe(createHash('sha256').update(readFileSync(output)).digest('hex'));
    expect(report.outputBytes).toBe(statSync(output).size);
  }, 300_000);
});
