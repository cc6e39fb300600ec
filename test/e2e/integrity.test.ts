import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ffmpeg, probeFramesPts, probeStreams } from '../fixtures/videos.js';
import { runCli, startCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * Segment integrity end to end: a run is interrupted, three of its stored segment blobs are damaged (bytes
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
