import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ffmpeg, framePsnr, probeFramesPts } from '../fixtures/videos.js';
import { runCli, startCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

const FRAMES = 300;
const CHUNK = 100;
const CHECKPOINT = 10;
const WORKERS = 2;

/** 10 s of 480x360 at 30 fps with audio, 3 tasks of 10 segments: long enough to be killed in the middle. */
async function longVideo(dir: string): Promise<string> {
  const path = join(dir, 'long.mp4');
  if (!existsSync(path)) {
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=s=480x360:r=30:d=10',
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

function segmentKeys(stateDir: string): string[] {
  const path = join(stateDir, 'state.db');
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT key FROM segments ORDER BY key').all() as { key: string }[]).map((r) => r.key);
  } catch {
    return []; // schema not created yet
  } finally {
    db.close();
  }
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(25);
  }
}

function children(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number);
  } catch {
    return [];
  }
}

/** Every process below `pid`, children first. */
function descendants(pid: number): number[] {
  return children(pid).flatMap((child) => [child, ...descendants(child)]);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return ''; // gone
  }
}

const alive = (pids: number[]) => pids.filter((pid) => commandOf(pid) !== '');

describe('resume and worker loss', () => {
  const dir = useTempDir();

  function args(name: string, input: string) {
    return [
      'run',
      '-t',
      input,
      '-o',
      join(dir(), `${name}.mp4`),
      '--state-dir',
      join(dir(), name),
      '--processors',
      'passthrough',
      '--workers',
      String(WORKERS),
      '--chunk-frames',
      String(CHUNK),
      '--checkpoint-frames',
      String(CHECKPOINT),
      '--output-video-preset',
      'medium',
      '--report',
      join(dir(), `${name}.json`),
    ];
  }

  it('continues from the last checkpoints after kill -9 and redoes only unsaved frames', async () => {
    const input = await longVideo(dir());
    const stateDir = join(dir(), 'killed');
    const first = startCli(args('killed', input), dir());
    const before = await waitFor(() => {
      const keys = segmentKeys(stateDir);
      return keys.length >= 6 ? keys : undefined;
    });
    first.child.kill('SIGKILL');
    await first.result;
    // Workers notice that their parent is gone and stop.
    await waitFor(() => (children(first.child.pid!).length === 0 ? true : undefined));
    const saved = segmentKeys(stateDir);
    expect(saved.length).toBeLessThan(FRAMES / CHECKPOINT);

    const second = await runCli(args('killed', input), dir());
    expect(second.stderr).toMatch(/resuming job/);
    expect(second.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir(), 'killed.json'), 'utf8'));
    expect(report.state).toBe('completed');
    expect(report.interruptions).toBeGreaterThanOrEqual(1);
    expect(report.failures).toBe(0);
    // Only frames after a running task's last checkpoint are redone: at most the open segment and
    // the one being uploaded, per worker.
    expect(report.framesRedone).toBeLessThanOrEqual(WORKERS * 2 * CHECKPOINT);
    // Segments checkpointed before the kill are part of the result, not recomputed.
    const final = segmentKeys(stateDir);
    for (const key of [...before, ...saved]) expect(final).toContain(key);
    expect(report.segments).toBe(final.length);

    const pts = await probeFramesPts(join(dir(), 'killed.mp4'));
    expect(pts).toHaveLength(FRAMES);
    const source = await probeFramesPts(input);
    expect(Math.max(...pts.map((t, i) => Math.abs(t - source[i])))).toBeLessThan(0.001);
  });

  it('reruns the task of a worker that died and still completes', async () => {
    const input = await longVideo(dir());
    const stateDir = join(dir(), 'worker-lost');
    const run = startCli(args('worker-lost', input), dir());
    await waitFor(() => (segmentKeys(stateDir).length >= 3 ? true : undefined));
    const [victim] = children(run.child.pid!);
    expect(victim).toBeGreaterThan(0);
    const ffmpegs = await waitFor(() => {
      const pids = descendants(victim).filter((pid) => /ffmpeg/.test(commandOf(pid)));
      return pids.length > 0 ? pids : undefined;
    });
    process.kill(victim, 'SIGKILL');
    // Its decoder and encoder do not outlive it: their pipes close with it.
    await waitFor(() => (alive(ffmpegs).length === 0 ? true : undefined), 10_000);
    const result = await run.result;
    expect(result.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir(), 'worker-lost.json'), 'utf8'));
    expect(report).toMatchObject({ state: 'completed', frames: FRAMES, failures: 0 });
    expect(report.interruptions).toBeGreaterThanOrEqual(1);
    expect(await probeFramesPts(join(dir(), 'worker-lost.mp4'))).toHaveLength(FRAMES);
  });

  it('flushes a checkpoint on Ctrl-C so that nothing is redone', async () => {
    const input = await longVideo(dir());
    const stateDir = join(dir(), 'ctrl-c');
    const run = startCli(args('ctrl-c', input), dir());
    await waitFor(() => (segmentKeys(stateDir).length >= 4 ? true : undefined));
    // A terminal's Ctrl-C reaches the whole process group; here, the run and its workers.
    for (const pid of [run.child.pid!, ...children(run.child.pid!)]) process.kill(pid, 'SIGINT');
    const interrupted = await run.result;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/run the same command to resume/);

    const second = await runCli(args('ctrl-c', input), dir());
    expect(second.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir(), 'ctrl-c.json'), 'utf8'));
    expect(report.framesRedone).toBe(0);
    expect(report.interruptions).toBeGreaterThanOrEqual(1);
    expect(await probeFramesPts(join(dir(), 'ctrl-c.mp4'))).toHaveLength(FRAMES);
  });

  it('--output-video-fps: a run stopped by Ctrl-C resumes into the output an unbroken run makes', async () => {
    const input = await longVideo(dir());
    const fps = ['--output-video-fps', '24'];
    const whole = await runCli([...args('fps-whole', input), ...fps], dir());
    expect(whole.code).toBe(0);
    const stateDir = join(dir(), 'fps-resumed');
    const run = startCli([...args('fps-resumed', input), ...fps], dir());
    await waitFor(() => (segmentKeys(stateDir).length >= 4 ? true : undefined));
    for (const pid of [run.child.pid!, ...children(run.child.pid!)]) process.kill(pid, 'SIGINT');
    expect((await run.result).code).toBe(130);
    const second = await runCli([...args('fps-resumed', input), ...fps], dir());
    expect(second.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir(), 'fps-resumed.json'), 'utf8'));
    expect(report).toMatchObject({ state: 'completed', framesRedone: 0 });
    expect(report.interruptions).toBeGreaterThanOrEqual(1);
    const [resumed, unbroken] = [join(dir(), 'fps-resumed.mp4'), join(dir(), 'fps-whole.mp4')];
    const pts = await probeFramesPts(resumed);
    expect(pts).toEqual(Array.from({ length: (FRAMES * 24) / 30 }, (_, n) => expect.closeTo(n / 24, 4)));
    expect(await probeFramesPts(unbroken)).toEqual(pts);
    // The same source frames in the same places: only the segments' cuts (and so the encoder's) differ.
    expect(Math.min(...(await framePsnr(resumed, unbroken)))).toBeGreaterThan(40);
  });

  it("takes a terminal's Ctrl-C, which signals the whole process group, as a preemption", async () => {
    const input = await longVideo(dir());
    const stateDir = join(dir(), 'group-int');
    const run = startCli(args('group-int', input), dir(), {}, { ownGroup: true });
    const group = run.child.pid!;
    await waitFor(() => (segmentKeys(stateDir).length >= 4 ? true : undefined));
    const ffmpegs = await waitFor(() => {
      const pids = descendants(group).filter((pid) => /ffmpeg/.test(commandOf(pid)));
      return pids.length > 0 ? pids : undefined;
    });
    process.kill(-group, 'SIGINT');
    const interrupted = await run.result;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/run the same command to resume/);
    await waitFor(() => (alive(ffmpegs).length === 0 ? true : undefined), 10_000);

    const second = await runCli(args('group-int', input), dir());
    expect(second.code).toBe(0);
    const report = JSON.parse(readFileSync(join(dir(), 'group-int.json'), 'utf8'));
    expect(report).toMatchObject({ state: 'completed', failures: 0, framesRedone: 0 });
    expect(report.interruptions).toBeGreaterThanOrEqual(1);
    expect(await probeFramesPts(join(dir(), 'group-int.mp4'))).toHaveLength(FRAMES);
  });
});
