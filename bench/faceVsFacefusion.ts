/**
 * FaceFusion 3.8.1 (the oracle beside the repository) against `spotfuse run` on the same generated 1080p30
 * video with one face per frame and the same stand-in models (test/fixtures/models.ts): frames per second
 * of face_swapper and of face_swapper + face_enhancer, each engine with its best settings for this machine.
 * Stand-in models cost next to nothing, so this measures what each engine spends around its models
 * (decoding, analysis, warps, pastes, encoding), which is what decides whether a GPU waits.
 * The two engines run alternately (FaceFusion, spotfuse, FaceFusion, …) and each ratio is taken pair by
 * pair, so a slow spell of a shared machine moves both sides of a ratio together.
 * `npm run bench -- --only face-video [--seconds N] [--runs N] [--workers N] [--ff-threads N]`.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runTool } from '../src/media/ffmpegProcess.js';
import { type FakeModelName, writeModelSet } from '../test/fixtures/models.js';
import { oracleUnavailable, setUpOracle } from '../test/helpers/facefusionOracle.js';
import { median, run, type Timing, timed } from './timing.js';

export interface FaceVideoOptions {
  ffmpeg: string;
  cli: string;
  out: string;
  seconds: number;
  runs: number;
  /** spotfuse's local workers (default: its own default, half the cores). */
  workers?: number;
  /** spotfuse's `--processor-threads` (default: its own, 1). */
  processorThreads?: number;
  /** FaceFusion's `--execution-thread-count` (frames processed at once); its default is 8. */
  ffThreads: number;
}

export interface FaceVideoCase {
  processors: string[];
  frames: number;
  facefusion: Timing[];
  spotfuse: Timing[];
  /** Median over the pairs of FaceFusion's wall time / spotfuse's: how many times faster spotfuse is. */
  speedup: number;
  /** The same for the CPU time both spent (all their processes and threads). */
  cpuSpeedup: number;
}

/** The face square (the stand-in detectors' "face"): 96 detector pixels at a 32-pixel grid, ×3 at 1080p. */
const FACE = { x: 864, y: 384, size: 288 };
export const MODELS: FakeModelName[] = [
  'yoloface_8n',
  'arcface_w600k_r50',
  'hyperswap_1a_256',
  'gfpgan_1.4',
  '2dfan4',
  'fan_68_5',
  'xseg_1',
];
const CHAINS = [['face_swapper'], ['face_swapper', 'face_enhancer']];

/**
 * 1080p30 with AAC: a dim moving test pattern (every pixel ≤ 16, as the stand-in detectors need around a
 * face, yet real work for the codecs) with a white square where a face would be.
 */
async function faceVideo(ffmpeg: string, path: string, seconds: number): Promise<void> {
  if (existsSync(path)) return;
  await runTool(
    ffmpeg,
    [
      ...['-nostdin', '-v', 'error', '-f', 'lavfi', '-i'],
      `testsrc2=s=1920x1080:r=30:d=${seconds}`,
      ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE.size}x${FACE.size}:r=30:d=${seconds}`],
      ...['-f', 'lavfi', '-i', `sine=f=440:r=48000:d=${seconds}`],
      '-filter_complex',
      `[0:v]lutrgb=r=val/16:g=val/16:b=val/16[bg];[bg][1:v]overlay=${FACE.x}:${FACE.y}[v]`,
      ...['-map', '[v]', '-map', '2:a', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '18'],
      ...['-pix_fmt', 'yuv420p', '-g', '60', '-c:a', 'aac', '-shortest', '-y', path],
    ],
    { failure: 'bench input' },
  );
}

/** The source face: one white square on black. */
async function sourceImage(ffmpeg: string, path: string): Promise<void> {
  if (existsSync(path)) return;
  await runTool(
    ffmpeg,
    [
      ...['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'color=c=black:s=640x360'],
      ...['-f', 'lavfi', '-i', 'color=c=white:s=96x96', '-filter_complex', '[0:v][1:v]overlay=256:128'],
      ...['-frames:v', '1', '-y', path],
    ],
    { failure: 'bench source' },
  );
}

/**
 * What the face benches run on, made once per folder and length: the 1080p30 video with one face, the source
 * face and the stand-in models (`models.manifest` serves them).
 */
export async function faceBenchInputs(ffmpeg: string, out: string, seconds: number) {
  const dir = join(out, 'face-video');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, `face-1080p30-${seconds}s.mp4`);
  const source = join(dir, 'source.png');
  await faceVideo(ffmpeg, input, seconds);
  await sourceImage(ffmpeg, source);
  return { dir, input, source, models: await writeModelSet(dir, MODELS) };
}

export async function benchFaceVideo(options: FaceVideoOptions): Promise<FaceVideoCase[]> {
  const unavailable = oracleUnavailable();
  if (unavailable) throw new Error(`FaceFusion cannot run here: ${unavailable}`);
  const { dir, input, source, models } = await faceBenchInputs(options.ffmpeg, options.out, options.seconds);
  const ff = setUpOracle(join(dir, 'facefusion'), join(dir, 'fake-models')).ff;
  const frames = options.seconds * 30;

  const facefusion = (processors: string[]) => async () => {
    const temp = join(dir, 'ff-temp');
    rmSync(temp, { recursive: true, force: true });
    await run(ff, [
      ...['headless-run', '-s', source, '-t', input, '-o', join(dir, 'ff.mp4')],
      ...['--processors', ...processors, '--execution-providers', 'cpu'],
      ...['--execution-thread-count', String(options.ffThreads), '--face-landmarker-score', '0'],
      ...[
        '--output-video-quality',
        '80',
        '--output-video-preset',
        'veryfast',
        '--output-audio-encoder',
        'aac',
      ],
      ...['--temp-path', temp, '--jobs-path', join(temp, 'jobs'), '--log-level', 'error'],
    ]);
  };
  const spotfuse = (processors: string[]) => async () => {
    const state = join(dir, 'sf-state');
    rmSync(state, { recursive: true, force: true });
    await run(process.execPath, [
      options.cli,
      ...['run', '-s', source, '-t', input, '-o', join(dir, 'sf.mp4'), '--state-dir', state, '--quiet'],
      ...['--processors', processors.join(','), '--model-manifest', models.manifest],
      ...['--model-dir', join(dir, 'model-cache')],
      ...['--output-video-quality', '80', '--output-video-preset', 'veryfast'],
      ...(options.workers ? ['--workers', String(options.workers)] : []),
      ...(options.processorThreads ? ['--processor-threads', String(options.processorThreads)] : []),
    ]);
  };

  const cases: FaceVideoCase[] = [];
  for (const processors of CHAINS) {
    const facefusionRuns: Timing[] = [];
    const spotfuseRuns: Timing[] = [];
    for (let i = 0; i < options.runs; i++) {
      facefusionRuns.push(await timed(facefusion(processors)));
      spotfuseRuns.push(await timed(spotfuse(processors)));
      const [ff, sf] = [facefusionRuns.at(-1)!, spotfuseRuns.at(-1)!];
      process.stdout.write(
        `${processors.join('+')} run ${i + 1}/${options.runs}: FaceFusion ${ff.wall.toFixed(2)} s ` +
          `(${ff.cpu.toFixed(2)} s CPU), spotfuse ${sf.wall.toFixed(2)} s (${sf.cpu.toFixed(2)} s CPU)\n`,
      );
    }
    const ratio = (key: keyof Timing) => median(facefusionRuns.map((t, i) => t[key] / spotfuseRuns[i][key]));
    cases.push({
      processors,
      frames,
      facefusion: facefusionRuns,
      spotfuse: spotfuseRuns,
      speedup: ratio('wall'),
      cpuSpeedup: ratio('cpu'),
    });
  }
  return cases;
}

export function faceVideoTable(cases: FaceVideoCase[], options: FaceVideoOptions): string[] {
  const fps = (runs: Timing[], frames: number) =>
    (frames / median(runs.map((t) => t.wall))).toFixed(1).padStart(6);
  const cpuMs = (runs: Timing[], frames: number) =>
    ((median(runs.map((t) => t.cpu)) / frames) * 1000).toFixed(1).padStart(6);
  return [
    `${cases[0]?.frames} frames of 1080p30, one face, stand-in models, libx264 quality 80 veryfast, ` +
      `median of ${options.runs} pair(s); FaceFusion 3.8.1 --execution-thread-count ${options.ffThreads}, ` +
      `spotfuse --workers ${options.workers ?? 'default'} --processor-threads ${options.processorThreads ?? 1}:`,
    `  ${'processors'.padEnd(30)}      fps (FaceFusion, spotfuse)   CPU ms/frame (FaceFusion, spotfuse)`,
    ...cases.map(
      (c) =>
        `  ${c.processors.join(' + ').padEnd(30)}${fps(c.facefusion, c.frames)} ${fps(c.spotfuse, c.frames)}  ` +
        `→ ${c.speedup.toFixed(2)}x   ${cpuMs(c.facefusion, c.frames)} ${cpuMs(c.spotfuse, c.frames)}  ` +
        `→ ${c.cpuSpeedup.toFixed(2)}x`,
    ),
    '  (→: how many times faster spotfuse is, pair by pair; goal ≥ 2x)',
  ];
}
