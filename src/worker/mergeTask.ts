import { mkdir, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { frameRateFraction } from '../core/outputFrameRate.js';
import { trimmedRange } from '../core/planner.js';
import { MediaError } from '../media/errors.js';
import { outputProblem } from '../media/integrityCheck.js';
import { mergeSegments } from '../media/merge.js';
import { hashFile } from '../models/hashes.js';
import type { ClaimResponse } from '../protocol/wire.js';
import type { LeaseClient } from './leaseClient.js';
import { plannedMicros } from './outputTimeline.js';
import { uploadOutput } from './outputUpload.js';
import { downloadSegments } from './segmentDownload.js';
import { damagedSegments } from './segmentVerification.js';
import { readableLocation } from './transfer.js';

export interface MergeTaskContext {
  client: LeaseClient;
  claim: ClaimResponse;
  workDir: string;
  signal: AbortSignal;
}

/**
 * Checks every segment (see damagedSegments) and, when one is damaged, hands the damaged ones back instead of
 * merging: their frames are queued again ('requeued'). Otherwise concatenates them in order (stream copy),
 * muxes the source audio, checks the output against the plan (frames, timestamps, audio streams), writes it,
 * and completes the task with the output's size and SHA-256.
 */
export async function runMergeTask(ctx: MergeTaskContext): Promise<'completed' | 'requeued'> {
  const { claim, signal } = ctx;
  const merge = claim.merge;
  if (!merge) throw new Error(`merge task ${claim.task.id} came without its segments`);
  const dir = join(ctx.workDir, `${claim.task.id}-e${claim.task.epoch}`);
  await mkdir(dir, { recursive: true });
  let output: { bytes: number; sha256: string };
  try {
    const segments = await downloadSegments(ctx.client, claim, dir);
    const damaged = await damagedSegments(segments, claim, signal);
    if (damaged.length > 0) {
      await ctx.client.rejectSegments(claim.task.id, claim.task.epoch, damaged);
      return 'requeued';
    }
    const { video } = claim.probe;
    const range = trimmedRange(claim.spec.trim, video.frameCount);
    const { fps } = claim.spec.encoder;
    const local = merge.outputUrl.startsWith('file:');
    const outputPath = local
      ? fileURLToPath(merge.outputUrl)
      : join(dir, `output${extname(new URL(merge.outputUrl).pathname)}`);
    await mergeSegments({
      segments,
      source: readableLocation(claim.inputUrl),
      probe: claim.probe,
      outputPath,
      audio: claim.spec.encoder.audio,
      ...(fps !== undefined || range.start > 0 || range.end < video.frameCount
        ? { trimStartPts: claim.framePts[range.start] }
        : {}),
      // 512 ticks a frame, as ffmpeg's MP4 muxer picks for a constant rate.
      ...(fps === undefined ? {} : { timescale: frameRateFraction(fps).num * 512 }),
      signal,
    });
    const problem = await outputProblem(outputPath, {
      planned: plannedMicros(claim, range.start, range.end),
      timeBase: video.timeBase,
      audioStreams: claim.probe.audio.length,
    });
    if (problem !== undefined) {
      // Never a broken output where the user looks for the result.
      await rm(outputPath, { force: true });
      throw new MediaError(`the merged output failed its check: ${problem}`);
    }
    const { size, sha256 } = await hashFile(outputPath);
    output = { bytes: size, sha256 };
    if (!local)
      await uploadOutput(outputPath, {
        client: ctx.client,
        taskId: claim.task.id,
        epoch: claim.task.epoch,
        merge,
        signal,
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await ctx.client.complete(claim.task.id, claim.task.epoch, output);
  return 'completed';
}
