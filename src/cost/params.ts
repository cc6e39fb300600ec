import { UserError } from '../core/errors.js';
import { SIM_DEFAULTS, type SimParams, type SimStoreKind } from './simulate.js';

/** What a user describes: the job either as GPU-minutes of work or as video length, fps and GPU speed. */
export interface SimInput {
  workGpuMinutes?: number;
  videoSeconds?: number;
  fps?: number;
  gpuFps?: number;
  spotPrice: number;
  onDemandPrice: number;
  interruptionRate?: number;
  noticeSeconds?: number;
  chunkSeconds?: number;
  checkpointFrames?: number;
  workers?: number;
  onDemandWorkers?: number;
  startupSeconds?: number;
  replacementSeconds?: number;
  mergeSeconds?: number;
  leaseTtlSeconds?: number;
  seed?: number;
  store?: SimStoreKind;
}

/**
 * Model parameters from a user's description. With `workGpuMinutes` the video is `videoSeconds` (default
 * 300) at `fps` (default 30) and the GPU speed follows; otherwise `gpuFps` is required.
 */
export function simParams(input: SimInput): SimParams {
  const fps = input.fps ?? SIM_DEFAULTS.fps;
  const videoSeconds = input.videoSeconds ?? SIM_DEFAULTS.videoSeconds;
  const frameCount = Math.max(1, Math.round(videoSeconds * fps));
  let gpuFps: number;
  if (input.workGpuMinutes !== undefined) {
    if (input.gpuFps !== undefined)
      throw new UserError('give either --work-gpu-minutes or --gpu-fps, not both');
    gpuFps = frameCount / (input.workGpuMinutes * 60);
  } else if (input.gpuFps !== undefined) {
    gpuFps = input.gpuFps;
  } else {
    throw new UserError('give --work-gpu-minutes, or --gpu-fps with --video-seconds and --fps');
  }
  const workers = input.workers ?? SIM_DEFAULTS.workers;
  const onDemandWorkers = input.onDemandWorkers ?? SIM_DEFAULTS.onDemandWorkers;
  if (workers + onDemandWorkers < 1) throw new UserError('the simulation needs at least one worker');
  return {
    frameCount,
    fps,
    gpuFps,
    chunkSeconds: input.chunkSeconds ?? SIM_DEFAULTS.chunkSeconds,
    checkpointFrames: input.checkpointFrames ?? SIM_DEFAULTS.checkpointFrames,
    workers,
    onDemandWorkers,
    spotPrice: input.spotPrice,
    onDemandPrice: input.onDemandPrice,
    interruptionRate: input.interruptionRate ?? 0,
    noticeSeconds: input.noticeSeconds ?? SIM_DEFAULTS.noticeSeconds,
    startupSeconds: input.startupSeconds ?? SIM_DEFAULTS.startupSeconds,
    replacementSeconds: input.replacementSeconds ?? SIM_DEFAULTS.replacementSeconds,
    mergeSeconds: input.mergeSeconds ?? SIM_DEFAULTS.mergeSeconds,
    leaseTtlSeconds: input.leaseTtlSeconds ?? SIM_DEFAULTS.leaseTtlSeconds,
    maxAttempts: SIM_DEFAULTS.maxAttempts,
    seed: input.seed ?? SIM_DEFAULTS.seed,
    store: input.store,
  };
}

/** Parameters `--sweep KEY=V1,V2,…` may vary, by their flag names. */
export const SWEEP_KEYS: Record<string, keyof SimInput> = {
  'chunk-seconds': 'chunkSeconds',
  'checkpoint-frames': 'checkpointFrames',
  workers: 'workers',
  'on-demand-workers': 'onDemandWorkers',
  'interruption-rate': 'interruptionRate',
  notice: 'noticeSeconds',
  seed: 'seed',
};

export interface Sweep {
  flag: string;
  key: keyof SimInput;
  values: number[];
}

export function parseSweep(text: string): Sweep {
  const m = /^([a-z-]+)=(.+)$/.exec(text.trim());
  const key = m ? SWEEP_KEYS[m[1]] : undefined;
  if (!m || !key) {
    throw new UserError(`--sweep takes KEY=V1,V2,… with KEY one of ${Object.keys(SWEEP_KEYS).join(', ')}`);
  }
  const values = m[2].split(',').map((v) => Number(v.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new UserError(`--sweep ${m[1]}: values must be numbers, 0 or more`);
  }
  return { flag: m[1], key, values };
}
