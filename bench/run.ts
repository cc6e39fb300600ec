/**
 * `npm run bench`: the cost of spotfuse's pipeline against two baselines measured in the same run on the
 * same generated 1080p30 video with audio:
 *   (a) plain ffmpeg decode + re-encode with the same encoder settings,
 *   (b) FaceFusion's disk strategy with its own ffmpeg options: every frame to PNG, re-encode, restore audio,
 *   (c) `spotfuse run --processors passthrough` (probe, plan, workers, segments, merge).
 * Then the face pipeline's CPU work per 1080p frame around its models (faceCpu.ts), per step and per
 * chain of processors, against the 33.3 ms a frame has at 30 fps.
 * Options: --seconds N (default 20), --runs N (default 1; the median is reported), --workers N,
 * --iterations N (face CPU frames, default 200), --only video|face-cpu (one of the two parts).
 * Wall and CPU time (of every process a case runs) are both reported: on a shared machine the CPU ratio
 * moves less. The ffmpeg used (the system's when there is one), the cores and the load come first.
 *
 * `--only face-video` runs FaceFusion 3.8.1 against spotfuse on a 1080p face video instead
 * (faceVsFacefusion.ts; needs the oracle beside the repository): --seconds, --runs, --workers,
 * --processor-threads N (spotfuse's, default 1) and
 * --ff-threads N (FaceFusion's --execution-thread-count, default 2).
 *
 * `--only worker-fps` runs one worker over the same face video with the stand-in models (workerFps.ts), for
 * each --frames-in-flight N,M (default 1,3; 0: the default for the processor threads), --threads N,M
 * (onnxruntime intra-op threads, default 1,2) and --processor-threads N,M (default 1), both chains,
 * alternating: --seconds, --runs.
 *
 * `--only facefusion-engine` runs FaceFusion 3.8.1 over a small face video against `spotfuse run --engine
 * facefusion` (one chunk, three on one and two workers) and the native engine (facefusionEngine.ts; needs
 * the oracle): --seconds (default 20; the README's figures use 10), --ff-threads N.
 *
 * `--only lease` runs the lease-capacity bench instead (leaseCapacity.ts; needs a PostgreSQL server, not
 * part of the default run): --workers N (default 500), --tasks N (default 10000), --seconds N (measured,
 * default 20), --db URL (a server to create and drop a bench database on; default
 * postgres://postgres@127.0.0.1:5432/postgres), --rate N (offered lease calls/s, default 2000; 0: back to
 * back), --server child|inproc (default child), --pool N (coordinator's pg pool; default pg's 10), --blob
 * s3|local (the server's blob store: a bucket whose URLs it presigns, as a cluster's, or a folder; default s3), --floor
 * (the same load on a server that answers every call after one `SELECT 1`: what the machine adds). Without
 * --floor the floor runs first as the run's baseline, for --floor-seconds N (default: --seconds, at most
 * 30; 0: none).
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveBinaries } from '../src/media/binaries.js';
import { ffmpegInfo } from '../src/media/toolInfo.js';
import { benchFaceCpu, faceCpuTable } from './faceCpu.js';
import { benchFacefusionEngine, type EngineBenchOptions, facefusionEngineTable } from './facefusionEngine.js';
import { benchFaceVideo, type FaceVideoOptions, faceVideoTable } from './faceVsFacefusion.js';
import {
  type BenchBlobStore,
  benchLeaseCapacity,
  leaseBaselineLines,
  leaseCapacityTable,
  type ServerPlacement,
} from './leaseCapacity.js';
import { median, run, type Timing, timed } from './timing.js';
import { benchWorkerFps, type WorkerFpsOptions, workerFpsTable } from './workerFps.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    workers: { type: 'string' },
    iterations: { type: 'string', default: '200' },
    only: { type: 'string' },
    tasks: { type: 'string', default: '10000' },
    db: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    rate: { type: 'string', default: '2000' },
    server: { type: 'string', default: 'child' },
    pool: { type: 'string' },
    floor: { type: 'boolean', default: false },
    blob: { type: 'string', default: 's3' },
    'floor-seconds': { type: 'string' },
    'ff-threads': { type: 'string', default: '2' },
    'frames-in-flight': { type: 'string', default: '1,3' },
    threads: { type: 'string', default: '1,2' },
    'processor-threads': { type: 'string', default: '1' },
  },
});
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const iterations = Number(values.iterations);
const PARTS = ['video', 'face-cpu', 'face-video', 'worker-fps', 'facefusion-engine', 'lease'];
if (values.only !== undefined && !PARTS.includes(values.only)) {
  throw new Error(`--only takes ${PARTS.join(', ')}, not "${values.only}"`);
}
if (!(Number.isInteger(iterations) && iterations > 0)) {
  throw new Error(`--iterations takes a whole number above 0, not "${values.iterations}"`);
}
const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, 'bench', 'out');
const cli = join(root, 'bin', 'spotfuse.js');
const { ffmpeg } = resolveBinaries();
const ENCODE = ['-c:v', 'libx264', '-crf', '10', '-preset', 'veryfast', '-pix_fmt', 'yuv420p'];

async function generateInput(path: string): Promise<void> {
  if (existsSync(path)) return;
  await run(ffmpeg, [
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=1920x1080:rate=30:duration=${seconds}`,
    '-f',
    'lavfi',
    '-i',
    `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '18',
    '-pix_fmt',
    'yuv420p',
    '-g',
    '60',
    '-c:a',
    'aac',
    '-b:a',
    '128k',
    '-shortest',
    '-y',
    path,
  ]);
}

const plainFfmpeg = (input: string) => () =>
  run(ffmpeg, ['-v', 'error', '-i', input, ...ENCODE, '-c:a', 'copy', '-y', join(out, 'a-ffmpeg.mp4')]);

/** FaceFusion 3.8's disk strategy, with the ffmpeg options its extract/merge/restore-audio steps use. */
const pngRoundTrip = (input: string) => async () => {
  const frames = join(out, 'frames');
  rmSync(frames, { recursive: true, force: true });
  mkdirSync(frames);
  await run(ffmpeg, [
    ...'-v error -i'.split(' '),
    input,
    ...'-q:v 0 -pix_fmt rgb24 -vf fps=30 -vsync 0'.split(' '),
    join(frames, '%08d.png'),
  ]);
  const video = join(out, 'b-temp.mp4');
  await run(ffmpeg, [
    ...'-v error -r 30 -i'.split(' '),
    join(frames, '%08d.png'),
    ...ENCODE,
    ...'-vf fps=30,scale=out_color_matrix=bt709:out_range=tv -y'.split(' '),
    video,
  ]);
  await run(ffmpeg, [
    ...'-v error -i'.split(' '),
    video,
    '-i',
    input,
    ...'-c:v copy -c:a aac -filter:a volume=1 -map 0:v:0 -map 1:a:0 -shortest -movflags +faststart -y'.split(
      ' ',
    ),
    join(out, 'b-facefusion.mp4'),
  ]);
  rmSync(frames, { recursive: true, force: true });
};

const spotfuse = (input: string) => async () => {
  const stateDir = join(out, 'state');
  rmSync(stateDir, { recursive: true, force: true });
  await run(process.execPath, [
    cli,
    'run',
    '-t',
    input,
    '-o',
    join(out, 'c-spotfuse.mp4'),
    '--processors',
    'passthrough',
    '--output-video-quality',
    '80',
    '--output-video-preset',
    'veryfast',
    '--state-dir',
    stateDir,
    '--quiet',
    ...(values.workers ? ['--workers', values.workers] : []),
  ]);
};

async function benchVideo(): Promise<void> {
  mkdirSync(out, { recursive: true });
  const input = join(out, `input-1080p30-${seconds}s.mp4`);
  process.stdout.write(`generating ${seconds} s of 1080p30 with audio… `);
  await generateInput(input);
  process.stdout.write('ok\n');
  const cases = { a: plainFfmpeg(input), b: pngRoundTrip(input), c: spotfuse(input) };
  const times: Record<keyof typeof cases, Timing[]> = { a: [], b: [], c: [] };
  for (let i = 0; i < runs; i++) {
    for (const name of ['a', 'b', 'c'] as const) {
      const t = await timed(cases[name]);
      times[name].push(t);
      process.stdout.write(
        `run ${i + 1}/${runs} ${name}: ${t.wall.toFixed(2)} s (${t.cpu.toFixed(2)} s CPU)\n`,
      );
    }
  }
  // Ratios are taken run by run (a, b and c ran back to back), so a slow spell of a shared machine moves
  // all three together instead of skewing one median.
  const ratio = (x: Timing[], y: Timing[], key: keyof Timing) => median(x.map((t, i) => t[key] / y[i][key]));
  const frames = seconds * 30;
  const line = (label: string, ts: Timing[]) => {
    const wall = median(ts.map((t) => t.wall));
    const cpu = median(ts.map((t) => t.cpu));
    return `  ${label}${wall.toFixed(2)} s  ${(frames / wall).toFixed(1)} fps  ${cpu.toFixed(2)} s CPU`;
  };
  console.log(`\n${frames} frames of 1080p30, libx264 crf 10 veryfast, median of ${runs} run(s):`);
  console.log(line('(a) plain ffmpeg re-encode      ', times.a));
  console.log(line('(b) PNG extract + re-encode     ', times.b));
  console.log(line('(c) spotfuse run (passthrough)  ', times.c));
  console.log(
    `  (c)/(a) = ${ratio(times.c, times.a, 'wall').toFixed(3)} wall, ` +
      `${ratio(times.c, times.a, 'cpu').toFixed(3)} CPU   (goal ≤ 1.10)`,
  );
  console.log(
    `  (b)/(c) = ${ratio(times.b, times.c, 'wall').toFixed(2)}x wall, ${ratio(times.b, times.c, 'cpu').toFixed(2)}x CPU  (goal ≥ 2)`,
  );
  for (const f of readdirSync(out)) if (f.endsWith('.mp4') && !f.startsWith('input')) rmSync(join(out, f));
}

function whole(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min))
    throw new Error(`--${name} takes a whole number ≥ ${min}, not "${text}"`);
  return n;
}

async function benchLease(): Promise<void> {
  if (values.server !== 'child' && values.server !== 'inproc') {
    throw new Error(`--server takes child or inproc, not "${values.server}"`);
  }
  if (values.blob !== 'local' && values.blob !== 's3') {
    throw new Error(`--blob takes local or s3, not "${values.blob}"`);
  }
  const options = {
    workers: whole('workers', values.workers ?? '500', 1),
    tasks: whole('tasks', values.tasks, 1),
    seconds: whole('seconds', values.seconds, 1),
    db: values.db,
    rate: whole('rate', values.rate, 0),
    server: values.server as ServerPlacement,
    poolSize: values.pool === undefined ? undefined : whole('pool', values.pool, 1),
    blob: values.blob as BenchBlobStore,
  };
  // The lease goal is absolute, and VMs differ by more than releases do: the floor, measured in the same
  // run, says what the machine itself allows.
  const floorSeconds = values.floor
    ? 0
    : whole('floor-seconds', values['floor-seconds'] ?? String(Math.min(30, options.seconds)), 0);
  const floor =
    floorSeconds > 0
      ? await benchLeaseCapacity({ ...options, seconds: floorSeconds, floor: true })
      : undefined;
  const result = await benchLeaseCapacity({ ...options, floor: values.floor });
  console.log(leaseCapacityTable(result).join('\n'));
  if (floor) console.log(leaseBaselineLines(result, floor).join('\n'));
}

async function benchFaceVsFacefusion(): Promise<void> {
  const options: FaceVideoOptions = {
    ffmpeg,
    cli,
    out,
    seconds,
    runs,
    workers: values.workers === undefined ? undefined : Number(values.workers),
    processorThreads: whole('processor-threads', values['processor-threads'], 1),
    ffThreads: Number(values['ff-threads']),
  };
  console.log(faceVideoTable(await benchFaceVideo(options), options).join('\n'));
}

async function benchWorker(): Promise<void> {
  const list = (name: string, text: string, min: number) =>
    text.split(',').map((item) => {
      const n = Number(item);
      if (!(Number.isInteger(n) && n >= min))
        throw new Error(`--${name} takes whole numbers ≥ ${min}, not "${text}"`);
      return n;
    });
  const options: WorkerFpsOptions = {
    ffmpeg,
    out,
    seconds,
    runs,
    framesInFlight: list('frames-in-flight', values['frames-in-flight'], 0),
    threads: list('threads', values.threads, 0),
    processorThreads: list('processor-threads', values['processor-threads'], 1),
  };
  console.log(workerFpsTable(await benchWorkerFps(options), options).join('\n'));
  console.log(
    `  (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} at the end)`,
  );
}

async function benchEngine(): Promise<void> {
  const options: EngineBenchOptions = { ffmpeg, cli, out, seconds, ffThreads: Number(values['ff-threads']) };
  console.log(facefusionEngineTable(await benchFacefusionEngine(options), options).join('\n'));
}

async function main(): Promise<void> {
  const info = await ffmpegInfo();
  console.log(
    `ffmpeg ${info.ffmpeg.version} (${ffmpeg}), ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}`,
  );
  if (values.only === 'lease') return benchLease();
  if (values.only === 'face-video') return benchFaceVsFacefusion();
  if (values.only === 'facefusion-engine') return benchEngine();
  if (values.only === 'worker-fps') return benchWorker();
  if (values.only !== 'face-cpu') await benchVideo();
  if (values.only !== 'video') {
    if (values.only === undefined) console.log('');
    console.log(faceCpuTable(await benchFaceCpu({ iterations })).join('\n'));
  }
}

await main();
