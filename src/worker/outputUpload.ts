import { stat } from 'node:fs/promises';
import type { MergeInput } from '../protocol/wire.js';
import { type LeaseClient, LeaseLostError } from './leaseClient.js';
import { uploadFile, uploadFileMultipart } from './transfer.js';

/** Tries at an upload in parts; each later one resumes from the parts the store already has. */
const ROUNDS = 3;

export interface OutputTarget {
  client: LeaseClient;
  taskId: string;
  epoch: number;
  merge: MergeInput;
  signal?: AbortSignal;
}

/**
 * Puts the merged output at its object-store URL: one PUT up to the coordinator's multipart threshold,
 * else a multipart upload whose part URLs the coordinator signs for this merge task's lease holder.
 * Returns how many parts it took (1 for a single PUT).
 */
export async function uploadOutput(path: string, target: OutputTarget): Promise<number> {
  const { size } = await stat(path);
  const threshold = target.merge.multipartAboveBytes;
  if (threshold === undefined || size <= threshold) {
    await uploadFile(path, target.merge.outputUrl);
    return 1;
  }
  const { client, taskId, epoch, signal } = target;
  let uploadId: string | undefined;
  for (let round = 1; ; round++) {
    const upload = await client.outputUpload(taskId, epoch, size, uploadId);
    uploadId = upload.uploadId;
    try {
      const etags = await uploadFileMultipart(path, upload.partUrls, upload.partSize, {
        uploaded: upload.uploaded,
        signal,
      });
      await client.completeOutput(taskId, epoch, uploadId, etags);
      return etags.length;
    } catch (error) {
      if (round >= ROUNDS || error instanceof LeaseLostError || signal?.aborted) throw error;
    }
  }
}
