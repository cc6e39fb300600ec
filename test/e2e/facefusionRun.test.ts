import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { faceSquareVideo, squareFace } from '../fixtures/faceSquares.js';
import { writeModel } from '../fixtures/models.js';
import { probeFramesPts, probeStreams, psnr } from '../fixtures/videos.js';
import { runCli, startCli } from '../helpers/cli.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * `spotfuse run --engine facefusion` against the real FaceFusion 3.8.1 (the oracle) with stand-in models.
 * Each FaceFusion run costs a few seconds on 2 cores: the videos are short and the runs few.
 */

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

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** FaceFusion processes running anywhere whose command line mentions `text`. */
function facefusionProcesses(text: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'facefusion.py headless-run'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map(Number)
      .filter((pid) => commandOf(pid).includes(text));
  } catch {
    return [];
  }
}

/** A worker of the run (a child of `run`) that has FaceFusion running a task now, other than `not`. */
function workerInTask(run: number, not: Set<number>): number | undefined {
  return children(run).find(
    (worker) =>
      !not.has(worker) && children(worker).some((pid) => /facefusion\.py headless-run/.test(commandOf(pid))),
  );
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}

const skip = oracleUnavailable();

describe.skipIf(skip !== undefined)('spotfuse run --engine facefusion (FaceFusion 3.8.1)', () => {
  const dir = useTempDir();
  let oracle: Oracle;
  let video: string;
  let face: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    const models = join(dir(), 'models');
    await mkdir(models, { recursive: true });
    for (const name of ['yoloface_8n', 'arcface_w600k_r50', 'hyperswap_1a_256', '2dfan4', 'xseg_1'] as const)
      await writeModel(models, name);
    oracle = setUpOracle(join(dir(), 'oracle'), models);
    env = { PYTHONPATH: oracle.env.PYTHONPATH!, ONNXRUNTIME_LIBRARY: oracle.env.ONNXRUNTIME_LIBRARY! };
    video = await faceSquareVideo(dir());
    face = await squareFace(dir());
  }, 60_000);

  const engineArgs = () => [
    '--engine',
    'facefusion',
    '--facefusion-path',
    oracle.facefusionDir,
    '--facefusion-python',
    oracle.python,
    '--execution-thread-count',
    '1',
  ];

  it('runs a multi-chunk job through FaceFusion, survives SIGTERM and kill -9 of workers mid-chunk, and gives every frame once with its timestamp and the audio', async () => {
    const output = join(dir(), 'swapped.mp4');
    const report = join(dir(), 'swapped.json');
    const run = startCli(
      [
        'run',
        '-s',
        face,
        '-t',
        video,
        '-o',
        output,
        '--processors',
        'face_swapper',
        '--facefusion-args',
        '--face-swapper-model hyperswap_1a_256',
        ...engineArgs(),
        '--workers',
        '2',
        '--chunk-frames',
        '15',
        '--state-dir',
        join(dir(), 'state'),
        '--report',
        report,
      ],
      dir(),
      env,
    );
    const runPid = run.child.pid!;
    // SIGTERM: a preemption notice. The worker stops FaceFusion and releases its task as preempted.
    const noticed = await waitFor(() => workerInTask(runPid, new Set()));
    process.kill(noticed, 'SIGTERM');
    // kill -9: no notice at all; the run sees the worker gone and its task runs again elsewhere.
    const killed = await waitFor(() => workerInTask(runPid, new Set([noticed])));
    process.kill(killed, 'SIGKILL');
    const result = await run.result;
    expect(result.stderr).toMatch(/done: /);
    expect(result.code).toBe(0);

    const job = JSON.parse(readFileSync(report, 'utf8'));
    expect(job.state).toBe('completed');
    expect(job.tasks).toBe(4);
    expect(job.failures).toBe(0);
    expect(job.interruptions).toBeGreaterThanOrEqual(2);

    // Every frame once, in order, at the input's timestamps; the input's audio.
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(video));
    const streams = await probeStreams(output);
    expect(streams.map((s) => s.codec_type)).toEqual(['video', 'audio']);
    expect(Number(streams[1].duration)).toBeCloseTo(2, 1);

    // As one FaceFusion run over the whole video, within what two lossy encodes differ by.
    const whole = join(dir(), 'whole.mp4');
    execFileSync(
      oracle.ff,
      [
        'headless-run',
        '-s',
        face,
        '-t',
        video,
        '-o',
        whole,
        '--processors',
        'face_swapper',
        '--face-swapper-model',
        'hyperswap_1a_256',
        '--execution-providers',
        'cpu',
        '--execution-thread-count',
        '1',
        '--output-audio-encoder',
        'aac',
        '--temp-path',
        join(dir(), 'whole-temp'),
        '--jobs-path',
        join(dir(), 'whole-jobs'),
      ],
      { stdio: 'ignore' },
    );
    const againstWhole = await psnr(output, whole);
    const againstInput = await psnr(output, video);
    expect(againstWhole).toBeGreaterThan(40);
    // The face was swapped: the output is not the input.
    expect(againstInput).toBeLessThan(againstWhole - 10);

    // Nothing of FaceFusion is left running, the killed worker's included.
    await waitFor(() => (facefusionProcesses(join(dir(), 'state')).length === 0 ? true : undefined), 60_000);
  }, 300_000);

  it('runs a processor in FaceFusion itself, with FaceFusion options passed through', async () => {
    const output = join(dir(), 'debugged.mp4');
    const result = await runCli(
      [
        'run',
        '-t',
        video,
        '-o',
        output,
        '--processors',
        'face_debugger',
        '--facefusion-args',
        '--face-debugger-items bounding-box',
        ...engineArgs(),
        '--workers',
        '1',
        '--state-dir',
        join(dir(), 'debugger-state'),
      ],
      dir(),
      env,
    );
    expect(result.stderr).toMatch(/done: .* 60 frames/);
    expect((await probeFramesPts(output)).length).toBe(60);
    expect(await probeFramesPts(output)).toEqual(await probeFramesPts(video));
    // The bounding box is drawn on every frame.
    expect(await psnr(output, video)).toBeLessThan(35);
  }, 180_000);

  it("trims with spotfuse's --trim-frame-start/--trim-frame-end: each FaceFusion task runs its part of the range", async () => {
    const output = join(dir(), 'trimmed.mp4');
    const result = await runCli(
      ['run', '-t', video, '-o', output, '--processors', 'face_debugger', '--facefusion-args']
        .concat(['--face-debugger-items bounding-box', ...engineArgs(), '--workers', '1'])
        .concat(['--chunk-frames', '12', '--trim-frame-start', '15', '--trim-frame-end', '37'])
        .concat(['--state-dir', join(dir(), 'trim-state')]),
      dir(),
      env,
    );
    expect(result.stderr).toMatch(/done: .* 22 frames/);
    const source = await probeFramesPts(video);
    expect(await probeFramesPts(output)).toEqual(
      source.slice(15, 37).map((t) => expect.closeTo(t - source[15], 3)),
    );
  }, 180_000);

  it('says in one line what is wrong: the path, the version, an option spotfuse sets, the Python', async () => {
    const fake = join(dir(), 'old-facefusion');
    await mkdir(fake, { recursive: true });
    writeFileSync(join(fake, 'facefusion.py'), 'print("FaceFusion 2.6.1")\n');
    const run = (args: string[]) =>
      runCli(['run', '-s', face, '-t', video, '-o', join(dir(), 'never.mp4'), ...args], dir(), env);
    const cases: [string[], string][] = [
      [
        ['--engine', 'facefusion', '--facefusion-path', join(dir(), 'nowhere')],
        `no FaceFusion at ${join(dir(), 'nowhere')}: it has no facefusion.py (--facefusion-path)`,
      ],
      [
        ['--engine', 'facefusion', '--facefusion-path', fake, '--facefusion-python', oracle.python],
        `FaceFusion 2.6.1 at ${fake} is not supported: spotfuse runs FaceFusion 3.8 (tested with 3.8.1)`,
      ],
      [
        [
          '--engine',
          'facefusion',
          '--facefusion-path',
          fake,
          '--facefusion-python',
          join(dir(), 'no-python'),
        ],
        `no Python at ${join(dir(), 'no-python')} (--facefusion-python)`,
      ],
      [
        ['--engine', 'facefusion'],
        '--engine facefusion needs --facefusion-path DIR (the folder with facefusion.py)',
      ],
      [
        [...engineArgs(), '--facefusion-args', '--trim-frame-start 10'],
        '--facefusion-args may not set --trim-frame-start: each task sets its own frame range',
      ],
      [
        ['--facefusion-args', '--face-swapper-model x'],
        '--facefusion-args and --facefusion-config need --engine facefusion',
      ],
    ];
    for (const [args, line] of cases) {
      const result = await run(args);
      expect(result.code, line).not.toBe(0);
      expect(result.stderr.trim()).toBe(`spotfuse: error: ${line}`);
    }
    // A worker checks its FaceFusion before it claims anything.
    const worker = await runCli(
      [
        'worker',
        '--server',
        'http://127.0.0.1:9',
        '--token',
        't',
        '--engine',
        'facefusion',
        '--facefusion-path',
        fake,
        '--facefusion-python',
        oracle.python,
      ],
      dir(),
    );
    expect(worker.code).not.toBe(0);
    expect(worker.stderr.trim()).toBe(
      `spotfuse: error: FaceFusion 2.6.1 at ${fake} is not supported: spotfuse runs FaceFusion 3.8 (tested with 3.8.1)`,
    );
  }, 120_000);

  it('fails a job whose chunk FaceFusion refuses with its own message, from the error budget, not the preemption budget', async () => {
    const report = join(dir(), 'refused.json');
    const result = await runCli(
      [
        'run',
        '-t',
        video,
        '-o',
        join(dir(), 'refused.mp4'),
        '--processors',
        'face_swapper',
        ...engineArgs(),
        '--workers',
        '1',
        '--max-attempts',
        '1',
        '--state-dir',
        join(dir(), 'refused-state'),
        '--report',
        report,
      ],
      dir(),
      env,
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /job \S+ failed: task \S+ failed 1 times: FaceFusion failed on frames 0-60: \[FACEFUSION.CORE\] choose an image for the source!/,
    );
    const job = JSON.parse(readFileSync(report, 'utf8'));
    expect(job.state).toBe('failed');
    expect(job.failures).toBe(1);
    expect(job.interruptions).toBe(0);
  }, 120_000);
});
