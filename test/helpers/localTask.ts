import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { OutputFrames } from '../../src/core/outputFrameRate.js';
import type { JobSpec } from '../../src/core/types.js';
import { probeVideo, splitProbe } from '../../src/media/probe.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import type { FrameChain } from '../../src/vision/processors/chain.js';
import type { LeaseClient } from '../../src/worker/leaseClient.js';
import { PreemptionNotice } from '../../src/worker/preemption.js';
import { runProcessTask } from '../../src/worker/processTask.js';

export interface LocalSegment {
  startFrame: number;
  endFrame: number;
  path: string;
}

export interface LocalTaskRun {
  outcome: 'completed' | 'preempted';
  /** Checkpointed segments, in the order the coordinator would have recorded them. */
  segments: LocalSegment[];
}

/**
 * One process task over a whole local video, run by the worker's real frame loop (`runProcessTask`) with
 * `chain`; the lease calls are answered here, segments go to `dir` as `file:` blobs.
 * `preemptAt`: a preemption notice arrives as that frame goes into the chain (so it is the task's last).
 * `abortAt`: the lease is lost as that frame goes into the chain (the task's signal is aborted).
 */
export async function runLocalTask(options: {
  input: string;
  dir: string;
  chain: FrameChain;
  spec: Omit<JobSpec, 'input' | 'output'>;
  framesInFlight: number;
  preemptAt?: number;
  abortAt?: number;
  /** Where each frame goes in the output, as a claim of a job with `--output-video-fps` carries it. */
  outputFrames?: OutputFrames;
}): Promise<LocalTaskRun> {
  const { dir } = options;
  const { probe, framePts } = splitProbe(await probeVideo(options.input));
  const claim: ClaimResponse = {
    protocol: LEASE_PROTOCOL,
    leaseTtlMs: 60_000,
    task: {
      id: 't1',
      jobId: 'j1',
      kind: 'process',
      startFrame: 0,
      endFrame: framePts.length,
      nextFrame: 0,
      epoch: 1,
    },
    spec: { ...options.spec, input: options.input, output: join(dir, 'out.mp4') },
    probe,
    inputUrl: pathToFileURL(options.input).href,
    framePts,
    framePtsFrom: 0,
    ...(options.outputFrames ? { outputFrames: options.outputFrames } : {}),
  };
  const blobs = join(dir, 'blobs');
  await mkdir(blobs, { recursive: true });
  const segments: LocalSegment[] = [];
  const client = {
    segmentUrl: async (_task: string, _epoch: number, startFrame: number) => {
      const key = `f${startFrame}`;
      return { key, url: pathToFileURL(join(blobs, key)).href };
    },
    checkpoint: async (_task: string, _epoch: number, startFrame: number, endFrame: number, key: string) => {
      segments.push({ startFrame, endFrame, path: fileURLToPath(pathToFileURL(join(blobs, key))) });
    },
    complete: async () => {},
    release: async () => {},
  } as unknown as LeaseClient;
  const notice = new PreemptionNotice();
  const lease = new AbortController();
  const chain: FrameChain = Object.create(options.chain);
  chain.process = (frame) => {
    if (frame.index === options.preemptAt) notice.trigger('test');
    if (frame.index === options.abortAt) lease.abort(new Error('lease lost'));
    return options.chain.process(frame);
  };
  const outcome = await runProcessTask({
    client,
    claim,
    chain,
    workDir: join(dir, 'work'),
    notice,
    progress: { framesDone: 0 },
    signal: lease.signal,
    framesInFlight: options.framesInFlight,
  });
  return { outcome, segments };
}
