import { spawn } from 'node:child_process';
import type { EncoderOptions, EngineSpec } from '../../../core/types.js';
import type { ExecutionOptions } from '../../../vision/execution.js';
import type { FacefusionInstallation } from './installation.js';
import { isFacefusionMessage, processedFrames } from './progress.js';

/** One FaceFusion run: frames [startFrame, endFrame) of `target` into `output`, with no audio. */
export interface HeadlessRun {
  target: string;
  sources: string[];
  output: string;
  startFrame: number;
  endFrame: number;
  processors: string[];
  encoder: EncoderOptions;
  engine: EngineSpec;
  execution: ExecutionOptions;
  /** The job's .ini written out, when it has one. */
  configPath?: string;
  /** This run's own folder for FaceFusion's temp frames and jobs: concurrent runs must not share one. */
  tempPath: string;
  jobsPath: string;
}

/** How long FaceFusion has to stop after SIGTERM before its process group is killed. */
const STOP_GRACE_MS = 10_000;
/** Lines of FaceFusion's output kept to explain a failure. */
const TAIL_LINES = 20;

/**
 * FaceFusion's command line for a run. The worker's execution provider comes first and the job's own
 * options after it, so a job that names its providers gets them; spotfuse's own settings come last, and
 * the job's options cannot hold those (see facefusionArgsProblem).
 */
export function headlessArgs(run: HeadlessRun): string[] {
  const { execution } = run;
  return [
    'headless-run',
    ...(run.configPath ? ['--config-path', run.configPath] : []),
    '--execution-providers',
    execution.provider,
    ...(execution.threads > 0 ? ['--execution-thread-count', String(execution.threads)] : []),
    ...run.engine.args,
    '--processors',
    ...run.processors,
    ...(run.sources.length > 0 ? ['--source-paths', ...run.sources] : []),
    '--target-path',
    run.target,
    '--output-path',
    run.output,
    '--trim-frame-start',
    String(run.startFrame),
    '--trim-frame-end',
    String(run.endFrame),
    '--temp-path',
    run.tempPath,
    '--jobs-path',
    run.jobsPath,
    // Volume 0 makes FaceFusion skip the audio: the merge muxes the source's audio once.
    '--output-audio-volume',
    '0',
    '--output-video-encoder',
    run.encoder.encoder,
    '--output-video-quality',
    String(Math.round(run.encoder.quality)),
    '--output-video-preset',
    run.encoder.preset,
    '--output-video-scale',
    String(run.encoder.scale ?? 1),
  ];
}

export interface RunControl {
  /** Aborting stops FaceFusion: SIGTERM to its process group, SIGKILL after a grace period. */
  signal: AbortSignal;
  /** Frames processed so far, as FaceFusion reports them. */
  onFrames?: (frames: number) => void;
}

/**
 * Runs FaceFusion and resolves when it exits 0. A failure rejects with FaceFusion's own last message; an
 * abort rejects with the signal's reason once FaceFusion and its children (ffmpeg) are gone.
 */
export function runHeadless(
  installation: FacefusionInstallation,
  run: HeadlessRun,
  control: RunControl,
): Promise<void> {
  return new Promise((done, fail) => {
    // A process group of its own: FaceFusion's ffmpeg children get the same signal.
    const child = spawn(installation.python, ['facefusion.py', ...headlessArgs(run)], {
      cwd: installation.path,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail: string[] = [];
    let partial = '';
    const read = (chunk: string) => {
      const lines = (partial + chunk).split(/[\r\n]/);
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const frames = processedFrames(line);
        if (frames !== undefined) control.onFrames?.(frames);
        else tail.push(line.trim());
        if (tail.length > TAIL_LINES) tail.shift();
      }
    };
    child.stdout.setEncoding('utf8').on('data', read);
    child.stderr.setEncoding('utf8').on('data', read);
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), STOP_GRACE_MS);
    };
    // If this worker exits first, FaceFusion must not run on as an orphan.
    const onExit = () => signalGroup('SIGKILL');
    process.once('exit', onExit);
    if (control.signal.aborted) stop();
    else control.signal.addEventListener('abort', stop, { once: true });
    const finish = () => {
      clearTimeout(killTimer);
      control.signal.removeEventListener('abort', stop);
      process.off('exit', onExit);
    };
    child.once('error', (error) => {
      finish();
      fail(new Error(`cannot start FaceFusion with ${installation.python}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      finish();
      // Its ffmpeg may outlive a FaceFusion that was told to stop.
      signalGroup('SIGKILL');
      if (control.signal.aborted) return fail(control.signal.reason);
      if (code === 0) return done();
      const message = tail.filter(isFacefusionMessage).at(-1) ?? tail.at(-1) ?? `exit ${code ?? signal}`;
      fail(new Error(`FaceFusion failed on frames ${run.startFrame}-${run.endFrame}: ${message}`));
    });
  });
}
