/**
 * One worker's frame rate on 1080p with the stand-in models (test/fixtures/models.ts), whose inference
 * costs next to nothing: the ceiling the engine itself puts on a worker whose models run on a GPU. The
 * same generated face video as the FaceFusion comparison (faceVsFacefusion.ts) goes through `spotfuse
 * run --workers 1` as one task, for each chain, `--frames-in-flight` and `--execution-thread-count`
 * given; the settings alternate within each round, so a slow spell of a shared machine hits all alike.
 * Reported: the worker's frames per second over its task (claim to complete, from the job report), the
 * whole run's wall time, and the CPU time of every process per frame.
 * `npm run bench -- --only worker-fps [--seconds N] [--runs N] [--frames-in-flight 1,3] [--threads 1,2]`.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeModelSet } from '../test/fixtures/models.js';
import { faceVideo, MODELS, sourceImage } from './faceVsFacefusion.js';
import { median, run, type Timing, timed } from './timing.js';

export interface WorkerFpsOptions {
  ffmpeg: string;
  cli: string;
  out: string;
  seconds: number;
  runs: number;
  framesInFlight: number[];
  threads: number[];
}

export interface WorkerFpsCase {
  processors: string[];
  framesInFlight: number;
  threads: number;
  frames: number;
  /** Per run: the process task's seconds (claim to complete), as the job report gives them. */
  taskSeconds: number[];
  runs: Timing[];
}

const CHAINS = [['face_swapper'], ['face_swapper', 'face_enhancer']];

interface Report {
  cost: { tasks: { kind: string; gpuSeconds: number }[] };
}

export async function benchWorkerFps(options: WorkerFpsOptions): Promise<WorkerFpsCase[]> {
  const dir = join(options.out, 'face-video');
  mkdirSync(dir, { recursive: true });
  const input = join(dir, `face-1080p30-${options.seconds}s.mp4`);
  const source = join(dir, 'source.png');
  await faceVideo(options.ffmpeg, input, options.seconds);
  await sourceImage(options.ffmpeg, source);
  const models = await writeModelSet(dir, MODELS);
  const frames = options.seconds * 30;
  const cases: WorkerFpsCase[] = CHAINS.flatMap((processors) =>
    options.threads.flatMap((threads) =>
      options.framesInFlight.map((framesInFlight) => ({
        processors,
        framesInFlight,
        threads,
        frames,
        taskSeconds: [],
        runs: [],
      })),
    ),
  );
  const state = join(dir, 'sf-state');
  const report = join(dir, 'sf-report.json');
  for (let i = 0; i < options.runs; i++) {
    for (const c of cases) {
      rmSync(state, { recursive: true, force: true });
      const timing = await timed(() =>
        run(process.execPath, [
          options.cli,
          ...['run', '-s', source, '-t', input, '-o', join(dir, 'sf.mp4'), '--state-dir', state, '--quiet'],
          ...['--processors', c.processors.join(','), '--model-manifest', models.manifest],
          ...['--model-dir', join(dir, 'model-cache'), '--report', report],
          ...['--output-video-quality', '80', '--output-video-preset', 'veryfast'],
          ...['--workers', '1', '--chunk-frames', String(frames)],
          ...['--frames-in-flight', String(c.framesInFlight)],
          ...['--execution-thread-count', String(c.threads)],
        ]),
      );
      const tasks = (JSON.parse(readFileSync(report, 'utf8')) as Report).cost.tasks;
      const taskSeconds = tasks.filter((t) => t.kind === 'process').reduce((sum, t) => sum + t.gpuSeconds, 0);
      c.runs.push(timing);
      c.taskSeconds.push(taskSeconds);
      process.stdout.write(
        `run ${i + 1}/${options.runs} ${c.processors.join('+')} frames-in-flight ${c.framesInFlight} ` +
          `threads ${c.threads}: worker ${(frames / taskSeconds).toFixed(1)} fps, run ` +
          `${timing.wall.toFixed(2)} s (${timing.cpu.toFixed(2)} s CPU)\n`,
      );
    }
  }
  return cases;
}

export function workerFpsTable(cases: WorkerFpsCase[], options: WorkerFpsOptions): string[] {
  const col = (text: string, width: number) => text.padStart(width);
  return [
    `${cases[0]?.frames} frames of 1080p30, one face, stand-in models, libx264 quality 80 veryfast, ` +
      `spotfuse run --workers 1, one task; median of ${options.runs} run(s):`,
    `  ${'processors'.padEnd(30)} in flight  threads  worker fps   run wall  CPU ms/frame`,
    ...cases.map((c) => {
      const task = median(c.taskSeconds);
      const wall = median(c.runs.map((t) => t.wall));
      const cpu = median(c.runs.map((t) => t.cpu));
      return (
        `  ${c.processors.join(' + ').padEnd(30)}${col(String(c.framesInFlight), 10)}${col(String(c.threads), 9)}` +
        `${col((c.frames / task).toFixed(1), 12)}${col(`${wall.toFixed(2)} s`, 11)}` +
        `${col(((cpu / c.frames) * 1000).toFixed(1), 14)}`
      );
    }),
  ];
}
