import { mkdir, rm } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeSegments } from '../media/merge.js';
import type { ClaimResponse } from '../protocol/wire.js';
import type { LeaseClient } from './leaseClient.js';
import { uploadOutput } from './outputUpload.js';
import { downloadFile, readableLocation } from './transfer.js';

export interface MergeTaskContext {
  client: LeaseClient;
  claim: ClaimResponse;
  workDir: string;
  signal: AbortSignal;
}

/** Concatenates the job's segments in order (stream copy), muxes the source audio, writes the output. */
export async function runMergeTask(ctx: MergeTaskContext): Promise<void> {
  const { claim, signal } = ctx;
  const merge = claim.merge;
  if (!merge) throw new Error(`merge task ${claim.task.id} came without its segments`);
  const dir = join(ctx.workDir, `${claim.task.id}-e${claim.task.epoch}`);
  await mkdir(dir, { recursive: true });
  try {
    const segments = await Promise.all(
      merge.segments.map(async (s, i) => ({
        path: await downloadFile(s.url, dir, `segment-${i}.mp4`),
        durationMicros: s.durationMicros,
      })),
    );
    const local = merge.outputUrl.startsWith('file:');
    const outputPath = local
      ? fileURLToPath(merge.outputUrl)
      : join(dir, `output${extname(new URL(merge.outputUrl).pathname)}`);
    await mergeSegments({
      segments,
      source: readableLocation(claim.inputUrl),
      probe: claim.probe,
      outputPath,
      signal,
    });
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
  await ctx.client.complete(claim.task.id, claim.task.epoch);
}
