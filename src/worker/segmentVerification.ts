import type { SegmentRejection } from '../core/types.js';
import { segmentProblem } from '../media/integrityCheck.js';
import { hashFile } from '../models/hashes.js';
import type { ClaimResponse, MergeSegmentInput } from '../protocol/wire.js';
import { plannedMicros } from './outputTimeline.js';

/** Segments checked at once: each check hashes its segment and may decode it, on the CPU. */
const CONCURRENCY = 4;

/** A segment of the merge as downloaded; `missing` says why the store had no blob for it. */
export type DownloadedSegment = MergeSegmentInput & { path: string; missing?: string };

/**
 * Why one segment must not be merged: not the bytes its worker uploaded, or not the frames planned. A segment
 * its worker decoded before the upload is decoded again only when its size and SHA-256 were not recorded:
 * the same bytes decode the same way.
 */
async function damage(segment: DownloadedSegment, claim: ClaimResponse, signal: AbortSignal) {
  if (segment.missing !== undefined) return segment.missing;
  if (segment.sha256 !== null) {
    let hashes: { sha256: string; size: number };
    try {
      hashes = await hashFile(segment.path);
    } catch (error) {
      return `cannot read the stored blob: ${(error as Error).message}`;
    }
    const { sha256, size } = hashes;
    if (segment.bytes !== null && size !== segment.bytes) return `${size} bytes, uploaded ${segment.bytes}`;
    if (sha256 !== segment.sha256)
      return `SHA-256 ${sha256.slice(0, 16)}…, uploaded ${segment.sha256.slice(0, 16)}…`;
    if (segment.decoded && segment.bytes !== null) return undefined;
  }
  const planned = plannedMicros(claim, segment.startFrame, segment.endFrame);
  return segmentProblem(segment.path, planned, claim.probe.video.timeBase, signal);
}

/**
 * Checks every segment of a merge against what its checkpoint recorded (size and SHA-256) and against the
 * plan (decodable, frame count, timestamps; see damage): the damaged ones, each with the reason.
 */
export async function damagedSegments(
  segments: readonly DownloadedSegment[],
  claim: ClaimResponse,
  signal: AbortSignal,
): Promise<SegmentRejection[]> {
  const rejections: SegmentRejection[] = [];
  let next = 0;
  const check = async () => {
    while (next < segments.length) {
      const segment = segments[next++];
      const reason = await damage(segment, claim, signal);
      if (reason !== undefined) {
        rejections.push({
          taskId: segment.taskId,
          startFrame: segment.startFrame,
          reason: `segment ${segment.startFrame}-${segment.endFrame}: ${reason}`,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, segments.length) }, check));
  return rejections.sort((a, b) => a.startFrame - b.startFrame);
}
