/**
 * What the facefusion engine costs around FaceFusion: on one small face video with the stand-in models
 * (test/fixtures/models.ts), face_swapper run (a) by FaceFusion 3.8.1 (the oracle beside the repository)
 * over the whole video, (b) by `spotfuse run --engine facefusion` as one chunk, (c) as three chunks on one
 * worker and (d) on two, and (e, f) by the native engine on one and two workers, one after the other in one
 * run. Every extra chunk starts FaceFusion again: (c) − (b) over the two extra chunks is that cost.
 * `npm run bench -- --only facefusion-engine [--seconds N] [--ff-threads N]`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../src/media/ffmpegProcess.js';
import { squareFace } from '../test/fixtures/faceSquares.js';
import { type FakeModelName, writeModelSet } from '../test/fixtures/models.js';
import { oracleUnavailable, setUpOracle } from '../test/helpers/facefusionOracle.js';
import { run, type Timing, timed } from './timing.js';

export interface EngineBenchOptions {
  ffmpeg: string;
  cli: string;
  out: string;
  seconds: number;
  /** FaceFusion's `--execution-thread-count`, whoever starts it. */
  ffThreads: number;
}

export interface EngineCase {
  label: string;
  timing: Timing;
}

export interface EngineBench {
  frames: number;
  cases: EngineCase[];
  /** What each chunk beyond the first adds: ((c) − (b)) / 2. */
  perChunk: Timing;
}

const MODELS: FakeModelName[] = ['yoloface_8n', 'arcface_w600k_r50', 'hyperswap_1a_256', '2dfan4', 'xseg_1'];
const CHUNKS = 3;
// The stand-in landmarker scores nothing; FaceFusion keeps its faces only at a threshold of 0.
const FACEFUSION_ARGS = ['--face-landmarker-score', '0'];

/** 320x240 at 30 fps with AAC: black, with the red square the stand-in detector takes for a face. */
async function faceVideo(ffmpeg: string, path: string, seconds: number): Promise<void> {
  await runTool(
    ffmpeg,
    [
      ...['-nostdin', '-v', 'error', '-f', 'lavfi', '-i'],
      `color=black:s=320x240:r=30:d=${seconds},drawbox=x=160:y=96:w=96:h=96:color=red:t=fill`,
      ...['-f', 'lavfi', '-i', `sine=f=440:r=48000:d=${seconds}`],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18', '-pix_fmt', 'yuv420p'],
      ...['-c:a', 'aac', '-shortest', '-y', path],
    ],
    { failure: 'bench input' },
  );
}

export async function benchFacefusionEngine(options: EngineBenchOptions): Promise<EngineBench> {
  const unavailable = oracleUnavailable();
  if (unavailable) throw new Error(`FaceFusion cannot run here: ${unavailable}`);
  const dir = join(options.out, 'facefusion-engine');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, `face-320x240-${options.seconds}s.mp4`);
  await faceVideo(options.ffmpeg, input, options.seconds);
  const source = await squareFace(dir);
  const models = await writeModelSet(dir, MODELS);
  const oracle = setUpOracle(join(dir, 'facefusion'), join(dir, 'fake-models'));
  const frames = options.seconds * 30;
  const threads = String(options.ffThreads);
  const quality = ['--output-video-quality', '80', '--output-video-preset', 'veryfast'];

  const facefusion = async () => {
    const temp = join(dir, 'ff-temp');
    rmSync(temp, { recursive: true, force: true });
    await run(
      oracle.ff,
      [
        ...['headless-run', '-s', source, '-t', input, '-o', join(dir, 'ff.mp4')],
        ...['--processors', 'face_swapper', '--execution-providers', 'cpu'],
        ...['--execution-thread-count', threads, ...FACEFUSION_ARGS, ...quality],
        ...['--output-audio-encoder', 'aac'],
        ...['--temp-path', temp, '--jobs-path', join(temp, 'jobs'), '--log-level', 'error'],
      ],
      oracle.env,
    );
  };
  const spotfuse = (engineArgs: string[], chunks: number, workers: number) => async () => {
    const state = join(dir, 'sf-state');
    rmSync(state, { recursive: true, force: true });
    await run(
      process.execPath,
      [
        options.cli,
        ...['run', '-s', source, '-t', input, '-o', join(dir, 'sf.mp4'), '--state-dir', state, '--quiet'],
        ...['--processors', 'face_swapper', ...quality, ...engineArgs],
        ...['--chunk-frames', String(Math.ceil(frames / chunks)), '--workers', String(workers)],
      ],
      oracle.env,
    );
  };
  const adapter = [
    ...['--engine', 'facefusion', '--facefusion-path', oracle.facefusionDir],
    ...['--facefusion-python', oracle.python, '--execution-thread-count', threads],
    ...['--facefusion-args', FACEFUSION_ARGS.join(' ')],
  ];
  const native = ['--model-manifest', models.manifest, '--model-dir', join(dir, 'model-cache')];

  const runs: [string, () => Promise<void>][] = [
    ['(a) FaceFusion headless-run, whole video', facefusion],
    ['(b) --engine facefusion, 1 chunk', spotfuse(adapter, 1, 1)],
    [`(c) --engine facefusion, ${CHUNKS} chunks, 1 worker`, spotfuse(adapter, CHUNKS, 1)],
    [`(d) --engine facefusion, ${CHUNKS} chunks, 2 workers`, spotfuse(adapter, CHUNKS, 2)],
    [`(e) native engine, ${CHUNKS} chunks, 1 worker`, spotfuse(native, CHUNKS, 1)],
    [`(f) native engine, ${CHUNKS} chunks, 2 workers`, spotfuse(native, CHUNKS, 2)],
  ];
  const cases: EngineCase[] = [];
  for (const [label, work] of runs) {
    const timing = await timed(work);
    process.stdout.write(`${label}: ${timing.wall.toFixed(2)} s (${timing.cpu.toFixed(2)} s CPU)\n`);
    cases.push({ label, timing });
  }
  const [, one, several] = cases.map((c) => c.timing);
  const extra = CHUNKS - 1;
  return {
    frames,
    cases,
    perChunk: { wall: (several.wall - one.wall) / extra, cpu: (several.cpu - one.cpu) / extra },
  };
}

export function facefusionEngineTable(bench: EngineBench, options: EngineBenchOptions): string[] {
  const whole = bench.cases[0].timing;
  return [
    `${bench.frames} frames of 320x240 at 30 fps with AAC, one face, face_swapper with stand-in models, ` +
      `quality 80 veryfast, FaceFusion 3.8.1 --execution-thread-count ${options.ffThreads}, one run:`,
    `  ${''.padEnd(48)}  wall      CPU    (÷ FaceFusion's: wall, CPU)`,
    ...bench.cases.map(
      ({ label, timing }) =>
        `  ${label.padEnd(48)}${timing.wall.toFixed(1).padStart(6)} s${timing.cpu.toFixed(1).padStart(6)} s   ` +
        `${(timing.wall / whole.wall).toFixed(2)}x ${(timing.cpu / whole.cpu).toFixed(2)}x`,
    ),
    `  each chunk beyond the first ((c) − (b)) / ${CHUNKS - 1}: ${bench.perChunk.wall.toFixed(1)} s wall, ` +
      `${bench.perChunk.cpu.toFixed(1)} s CPU`,
  ];
}
