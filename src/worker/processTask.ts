import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentContainer } from '../media/containers.js';
import { MediaError } from '../media/errors.js';
import { decodeFrames } from '../media/frameDecoder.js';
import { outputScaleSize } from '../media/imageFiles.js';
import { segmentProblem } from '../media/integrityCheck.js';
import { SegmentEncoder } from '../media/segmentEncoder.js';
import { hashFile } from '../models/hashes.js';
import type { ClaimResponse } from '../protocol/wire.js';
import type { Frame } from '../vision/frame.js';
import type { FrameChain } from '../vision/processors/chain.js';
import type { HeartbeatState } from './heartbeat.js';
import type { LeaseClient } from './leaseClient.js';
import { outputTimeline, plannedMicros } from './outputTimeline.js';
import type { PreemptionNotice } from './preemption.js';
import { prefetch } from './prefetch.js';
import { readableLocation, uploadFile } from './transfer.js';

/** Frames decoded ahead of the processors; bounds memory whatever the video length. */
const DECODE_AHEAD = 8;
/**
 * Closed segments still being encoded/uploaded/checkpointed, counting the one just closed. Two let the
 * encoder of one segment finish while the next is fed, and bound the frames a crash can lose to two
 * segments per task.
 */
const SEGMENTS_IN_FLIGHT = 2;
/** `--frames-in-flight`'s default for a chain in one thread: see README, Performance. */
const DEFAULT_FRAMES_IN_FLIGHT = 3;

/**
 * `--frames-in-flight`'s default for a chain in `threads` threads: two more per further thread, so each
 * thread has a frame waiting while it works on one (the reply and the next hand-over cost it nothing).
 */
export const defaultFramesInFlight = (threads: number) => DEFAULT_FRAMES_IN_FLIGHT + 2 * (threads - 1);

export interface ProcessTaskContext {
  client: LeaseClient;
  claim: ClaimResponse;
  chain: FrameChain;
  workDir: string;
  /** ffmpeg's `-hwaccel` method for the decoder (e.g. cuda); default software decoding. */
  decoderHwaccel?: string;
  notice: PreemptionNotice;
  progress: HeartbeatState;
  /** Aborted when the lease is lost: everything stops, nothing is released. */
  signal: AbortSignal;
  /** Told the end frame of each segment the coordinator has recorded. */
  checkpointed?: (endFrame: number) => void;
  /**
   * Frames in the processor chain at once (1: one at a time). More let the chain work on the next frames
   * while the encoder takes in the previous one; each holds one decoded frame. Default: by the chain's
   * threads (`defaultFramesInFlight`).
   */
  framesInFlight?: number;
  /** Lines about this task (the caller binds its job, task, worker and epoch). */
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface OpenSegment {
  startFrame: number;
  /** The source frame after its last (those the output drops included), once it is closed. */
  endFrame: number;
  /** Output frames written. */
  frames: number;
  basePtsMicros: number;
  localPath: string;
  encoder: SegmentEncoder;
  target: { key: string; url: string };
}

/**
 * Runs frames [nextFrame, endFrame) of a task: decode → processors → encode, closing a segment every
 * `checkpointFrames` frames; each closed segment is decoded and checked against the plan (as the merge would),
 * then uploaded and checkpointed in order while the next one is already being encoded. A segment that fails
 * its check fails the task. On a preemption notice the open segment is flushed and the task released.
 */
export async function runProcessTask(ctx: ProcessTaskContext): Promise<'completed' | 'preempted'> {
  const { client, claim, signal } = ctx;
  const { task, spec } = claim;
  if (task.nextFrame >= task.endFrame) {
    // Every frame is checkpointed: a worker died between its last checkpoint and its complete (found by chaos:
    // decoding the empty rest failed the task on every worker that claimed it, and then the job).
    await client.complete(task.id, task.epoch);
    return 'completed';
  }
  const probe = claim.probe;
  const { video } = probe;
  const ptsOf = (frame: number) => claim.framePts[frame - claim.framePtsFrom];
  const timeline = outputTimeline(claim);
  /** The first frame from `frame` on that the output keeps, or the task's end. */
  const keptFrom = (frame: number) => {
    let kept = frame;
    while (kept < task.endFrame && timeline.copies(kept) === 0) kept++;
    return kept;
  };
  const processed = await ctx.chain.outputSize(video.width, video.height);
  const output = outputScaleSize(video.width, video.height, spec.encoder.scale);
  const segmentDir = join(ctx.workDir, `${task.id}-e${task.epoch}`);
  await mkdir(segmentDir, { recursive: true });

  let finalizing: Promise<void> = Promise.resolve();
  const inFlight: Promise<void>[] = [];
  let open: OpenSegment | undefined;

  const openSegment = async (startFrame: number): Promise<OpenSegment> => {
    while (inFlight.length >= SEGMENTS_IN_FLIGHT) await inFlight.shift();
    const target = await client.segmentUrl(task.id, task.epoch, startFrame);
    const localPath = join(segmentDir, `f${startFrame}${segmentContainer(spec.encoder.encoder).extension}`);
    const encoder = SegmentEncoder.start({
      outputPath: localPath,
      width: processed.width,
      height: processed.height,
      outputSize: output,
      pixFmt: video.pipePixFmt,
      encoder: spec.encoder.encoder,
      quality: spec.encoder.quality,
      preset: spec.encoder.preset,
      colour: video.colour,
      fps: spec.encoder.fps ?? video.fps,
    });
    const basePtsMicros = timeline.micros(startFrame);
    return { startFrame, endFrame: startFrame, frames: 0, basePtsMicros, localPath, encoder, target };
  };

  const closeSegment = (segment: OpenSegment): void => {
    const previous = finalizing;
    finalizing = (async () => {
      await segment.encoder.finish();
      // Hashed as written, before the upload: the merge checks the stored blob against it.
      const { sha256, size } = await hashFile(segment.localPath);
      // Decoded here, in parallel across the fleet, rather than by the merge at the job's end: only a decode
      // finds an encoder that wrote garbage and exited cleanly. While the one before is still uploading.
      const planned = plannedMicros(claim, segment.startFrame, segment.endFrame);
      const problem = await segmentProblem(segment.localPath, planned, video.timeBase, signal);
      await previous;
      // Never uploaded nor checkpointed: the task fails, and its frames from here on are done again.
      if (problem !== undefined)
        throw new MediaError(
          `segment ${segment.startFrame}-${segment.endFrame} as encoded failed its check: ${problem}`,
        );
      await uploadFile(segment.localPath, segment.target.url);
      await client.checkpoint(
        task.id,
        task.epoch,
        segment.startFrame,
        segment.endFrame,
        segment.target.key,
        // The source frames it stands for: with --output-video-fps, not the frames written.
        { sha256, bytes: size, frames: segment.endFrame - segment.startFrame, decoded: true },
      );
      ctx.checkpointed?.(segment.endFrame);
    })();
    inFlight.push(finalizing);
    // Surfaced by the final await; this keeps an early failure from being reported as unhandled.
    finalizing.catch(() => {});
  };

  const framesInFlight = ctx.framesInFlight ?? defaultFramesInFlight(ctx.chain.threads);
  /** Frames handed to the chain and not yet written, oldest first, with their frame numbers. */
  const processing: { index: number; frame: Promise<Frame> }[] = [];
  /** The first frame no segment covers yet. */
  let frameIndex = task.nextFrame;
  /** The next frame the decoder gives. */
  let decodedIndex = task.nextFrame;

  const writeOldest = async (): Promise<void> => {
    const { index, frame: processed } = processing.shift()!;
    const frame = await processed;
    open ??= await openSegment(frameIndex);
    for (let copy = 0; copy < timeline.copies(index); copy++) {
      await open.encoder.write(frame.data, timeline.micros(index, copy) - open.basePtsMicros);
      open.frames++;
    }
    // The frames the output drops after this one belong to its segment.
    const next = keptFrom(index + 1);
    ctx.progress.framesDone += next - frameIndex;
    frameIndex = next;
    open.endFrame = next;
    if (open.frames >= spec.checkpointFrames || frameIndex === task.endFrame) {
      closeSegment(open);
      open = undefined;
    }
  };

  try {
    const decoded = decodeFrames({
      input: readableLocation(claim.inputUrl),
      probe,
      framePtsAt: ptsOf,
      startFrame: task.nextFrame,
      endFrame: task.endFrame,
      signal,
      hwaccel: ctx.decoderHwaccel,
      // The read-ahead, the frames in the chain, and the one the encoder may still be writing.
      reuseBuffers: DECODE_AHEAD + framesInFlight + 1,
    });
    for await (const data of prefetch(decoded, DECODE_AHEAD)) {
      if (ctx.notice.requested) break;
      const index = decodedIndex++;
      // A frame the output drops is decoded (the decoder reads every frame) but never processed.
      if (timeline.copies(index) > 0) {
        const processed = ctx.chain.process({
          index,
          width: video.width,
          height: video.height,
          pixFmt: video.pipePixFmt,
          colour: video.colour,
          data,
        });
        // Awaited in turn by writeOldest; a failure before then must not count as unhandled.
        processed.catch(() => {});
        processing.push({ index, frame: processed });
        if (processing.length >= framesInFlight) await writeOldest();
      }
      // Dropped frames take their turns in the decoder's reused buffers too: a frame in the chain is written
      // before its buffer comes round again, as it is when every frame goes through the chain.
      while (processing.length > 0 && decodedIndex - processing[0].index >= framesInFlight)
        await writeOldest();
    }
    // Also on a preemption notice: the frames already in the chain are finished and written.
    while (processing.length > 0) await writeOldest();
    if (open) {
      closeSegment(open);
      open = undefined;
    }
    await finalizing;
  } catch (error) {
    open?.encoder.abort();
    // Nothing of this task may still be running in the chain when the next task uses it.
    await Promise.allSettled(processing.map((p) => p.frame));
    await finalizing.catch(() => {});
    throw signal.aborted ? signal.reason : error;
  } finally {
    await rm(segmentDir, { recursive: true, force: true });
  }

  // A lease lost after the last frame was decoded stops nothing above; the next holder completes the task.
  signal.throwIfAborted();
  if (frameIndex < task.endFrame) {
    ctx.log?.('preemption notice: segments flushed, releasing the task', { nextFrame: frameIndex });
    await client.release(task.id, task.epoch, 'preempted');
    return 'preempted';
  }
  await client.complete(task.id, task.epoch);
  return 'completed';
}
