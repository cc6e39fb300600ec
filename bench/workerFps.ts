/**
 * One worker's frame rate on 1080p with the stand-in models (test/fixtures/models.ts), whose inference
 * costs next to nothing: the ceiling the engine itself puts on a worker whose models run on a GPU. The
 * same generated face video as the FaceFusion comparison (faceVsFacefusion.ts) goes through the worker's
 * own frame loop (`runProcessTask`: decoder, processor chain, segment encoder, checkpoints to local files)
 * as one task, for each chain, `--frames-in-flight`, `--execution-thread-count` and `--processor-threads`
 * given; the settings alternate within each round, so a slow spell of a shared machine hits all of them
 * alike. Reported per frame: wall time (as fps) and CPU time, split into the worker's main thread
 * (JavaScript: analysis input, warps, paste-back, pipes; with processor threads, the pipes and hand-overs),
 * its other threads (onnxruntime's, and the processor threads) and its ffmpeg processes. With the chain in
 * the main thread, its share bounds a worker's fps whatever the cores: 1000 / its ms per frame.
 * `npm run bench -- --only worker-fps [--seconds N] [--runs N] [--frames-in-flight 1,3] [--threads 1,2]
 * [--processor-threads 1,2]`; frames in flight 0: the worker's default for the processor threads.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { JobSpec } from '../src/core/types.js';
import { resolveModelSettings } from '../src/models/settings.js';
import { prepareFaceJob } from '../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS, faceOptionsOf } from '../src/vision/faceOptions.js';
import type { FrameChain } from '../src/vision/processors/chain.js';
import { loadFrameChain } from '../src/vision/processors/threadedChain.js';
import { defaultFramesInFlight } from '../src/worker/processTask.js';
import { runLocalTask } from '../test/helpers/localTask.js';
import { faceBenchInputs } from './faceVsFacefusion.js';
import { childrenCpuSeconds, median } from './timing.js';

export interface WorkerFpsOptions {
  ffmpeg: string;
  out: string;
  seconds: number;
  runs: number;
  framesInFlight: number[];
  threads: number[];
  processorThreads: number[];
}

/** One run's seconds: wall, and CPU of the main thread, of the worker's other threads, of its ffmpegs. */
interface WorkerRun {
  wall: number;
  main: number;
  otherThreads: number;
  ffmpeg: number;
}

export interface WorkerFpsCase {
  processors: string[];
  framesInFlight: number;
  threads: number;
  processorThreads: number;
  frames: number;
  runs: WorkerRun[];
}

const CHAINS = [['face_swapper'], ['face_swapper', 'face_enhancer']];

/** CPU seconds of this process's main thread (/proc/self/task/PID/stat, utime + stime in 1/100 s). */
function mainThreadCpuSeconds(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function processCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

export async function benchWorkerFps(options: WorkerFpsOptions): Promise<WorkerFpsCase[]> {
  const {
    dir,
    input,
    source,
    models: set,
  } = await faceBenchInputs(options.ffmpeg, options.out, options.seconds);
  const models = await resolveModelSettings(
    { modelDir: join(dir, 'model-cache'), modelManifest: set.manifest },
    {},
  );
  const frames = options.seconds * 30;
  const specOf = (processors: string[]): Omit<JobSpec, 'input' | 'output'> => ({
    sources: [source],
    processors,
    face: DEFAULT_FACE_OPTIONS,
    encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
    checkpointFrames: 100,
  });
  const chains = new Map<string, FrameChain>();
  const chainKey = (c: Pick<WorkerFpsCase, 'processors' | 'threads' | 'processorThreads'>) =>
    `${c.processors.join('+')}/${c.threads}/${c.processorThreads}`;
  for (const processors of CHAINS) {
    await prepareFaceJob({ ...specOf(processors), input }, models, { provider: 'cpu', threads: 0 });
    for (const threads of options.threads) {
      for (const processorThreads of options.processorThreads) {
        const loadOptions = {
          sources: [source],
          target: input,
          face: faceOptionsOf(DEFAULT_FACE_OPTIONS),
          execution: { provider: 'cpu' as const, threads },
          models,
        };
        const chain = await loadFrameChain(processors, loadOptions, processorThreads);
        chains.set(chainKey({ processors, threads, processorThreads }), chain);
      }
    }
  }
  const cases: WorkerFpsCase[] = CHAINS.flatMap((processors) =>
    options.threads.flatMap((threads) =>
      options.processorThreads.flatMap((processorThreads) =>
        options.framesInFlight.map((framesInFlight) => ({
          processors,
          framesInFlight: framesInFlight || defaultFramesInFlight(processorThreads),
          threads,
          processorThreads,
          frames,
          runs: [],
        })),
      ),
    ),
  );
  try {
    for (let i = 0; i < options.runs; i++) {
      for (const c of cases) {
        const taskDir = join(dir, 'worker-task');
        rmSync(taskDir, { recursive: true, force: true });
        const chain = chains.get(chainKey(c))!;
        const [main0, process0, children0] = [
          mainThreadCpuSeconds(),
          processCpuSeconds(),
          childrenCpuSeconds(),
        ];
        const start = process.hrtime.bigint();
        const { outcome } = await runLocalTask({
          input,
          dir: taskDir,
          chain,
          spec: specOf(c.processors),
          framesInFlight: c.framesInFlight,
        });
        if (outcome !== 'completed') throw new Error(`the bench task ended ${outcome}`);
        const wall = Number(process.hrtime.bigint() - start) / 1e9;
        const main = mainThreadCpuSeconds() - main0;
        const run = {
          wall,
          main,
          otherThreads: processCpuSeconds() - process0 - main,
          ffmpeg: childrenCpuSeconds() - children0,
        };
        c.runs.push(run);
        const ms = (seconds: number) => ((seconds / frames) * 1000).toFixed(1);
        process.stdout.write(
          `run ${i + 1}/${options.runs} ${c.processors.join('+')} frames-in-flight ${c.framesInFlight} ` +
            `threads ${c.threads} processor threads ${c.processorThreads}: ${(frames / wall).toFixed(1)} fps; ` +
            `CPU ms/frame main ${ms(run.main)}, ` +
            `other threads ${ms(run.otherThreads)}, ffmpeg ${ms(run.ffmpeg)}\n`,
        );
      }
    }
  } finally {
    for (const chain of chains.values()) await chain.dispose();
  }
  return cases;
}

export function workerFpsTable(cases: WorkerFpsCase[], options: WorkerFpsOptions): string[] {
  const col = (text: string, width: number) => text.padStart(width);
  const perFrame = (c: WorkerFpsCase, key: keyof WorkerRun) =>
    (median(c.runs.map((run) => run[key])) / c.frames) * 1000;
  return [
    `${cases[0]?.frames} frames of 1080p30, one face, stand-in models, libx264 quality 80 veryfast, one ` +
      `worker's frame loop, one task; median of ${options.runs} run(s):`,
    `  ${'processors'.padEnd(30)} in flight  threads  processor threads     fps   CPU ms/frame: main` +
      '  other threads  worker  ffmpeg   main thread allows',
    ...cases.map((c) => {
      const main = perFrame(c, 'main');
      const other = perFrame(c, 'otherThreads');
      // With processor threads, the chain's work is not on the main thread: it bounds nothing alone.
      const allows = c.processorThreads === 1 ? `${(1000 / main).toFixed(0)} fps` : '-';
      return (
        `  ${c.processors.join(' + ').padEnd(30)}${col(String(c.framesInFlight), 10)}${col(String(c.threads), 9)}` +
        `${col(String(c.processorThreads), 19)}${col((1000 / perFrame(c, 'wall')).toFixed(1), 8)}` +
        `${col(main.toFixed(1), 20)}${col(other.toFixed(1), 15)}${col((main + other).toFixed(1), 8)}` +
        `${col(perFrame(c, 'ffmpeg').toFixed(1), 8)}${col(allows, 21)}`
      );
    }),
  ];
}
