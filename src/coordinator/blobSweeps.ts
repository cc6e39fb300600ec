import type { BlobStore } from '../blob/blobStore.js';
import type { PendingUpload } from '../blob/s3BlobStore.js';
import type { JobStore } from '../store/store.js';

/**
 * Background clean-up of the blob store, run by every coordinator replica. Each step is idempotent
 * (deleting a deleted blob or record, aborting an aborted upload is no error), so replicas sweeping
 * at once only repeat each other's work.
 */

/** Where a job's segments go: each under a key of its task, lease epoch and first frame. */
export function segmentsPrefix(jobId: string): string {
  return `jobs/${jobId}/segments/`;
}

/**
 * Deletes an ended job's segment blobs, then notes it on the job (the segment records stay, so reports
 * keep their counts): a crash in between only repeats the delete. Blobs no segment record names go too:
 * uploads of workers that died before their checkpoint, or whose lease was gone by then.
 */
export async function deleteJobSegments(
  store: JobStore,
  blobs: BlobStore,
  jobId: string,
  now = Date.now(),
): Promise<void> {
  // Rejected segments too (their blobs are deleted when rejected, unless that failed), and the uploads of
  // workers that never recorded theirs.
  const recorded = [...(await store.listSegments(jobId)), ...(await store.listRejectedSegments(jobId))];
  const unrecorded = await blobs.list(segmentsPrefix(jobId));
  await blobs.delete([...new Set([...recorded.map((s) => s.key), ...unrecorded])]);
  await store.markSegmentsDeleted(jobId, now);
}

export interface SweepResult {
  jobs: number;
  failures: { jobId: string; error: string }[];
}

/**
 * Deletes the segments of jobs that ended (completed, failed or canceled) at or before `endedBefore`,
 * `batch` jobs at a time while every job of a batch succeeds: a job whose blobs cannot be deleted is
 * reported and tried again on the next sweep, without holding up the others on this one.
 */
export async function sweepSegments(
  store: JobStore,
  blobs: BlobStore,
  endedBefore: number,
  batch = 100,
): Promise<SweepResult> {
  const result: SweepResult = { jobs: 0, failures: [] };
  for (;;) {
    const jobIds = await store.listEndedJobsWithSegments(endedBefore, batch);
    for (const jobId of jobIds) {
      try {
        await deleteJobSegments(store, blobs, jobId);
        result.jobs++;
      } catch (error) {
        result.failures.push({ jobId, error: (error as Error).message });
      }
    }
    if (jobIds.length < batch || result.failures.length > 0) return result;
  }
}

/** A blob store that can list and abort unfinished multipart uploads (S3). */
export interface UploadSweepable {
  listMultipartUploads(): Promise<PendingUpload[]>;
  abortMultipartUpload(key: string, uploadId: string): Promise<void>;
}

export function canSweepUploads(blobs: BlobStore): blobs is BlobStore & UploadSweepable {
  const b = blobs as Partial<UploadSweepable>;
  return typeof b.listMultipartUploads === 'function' && typeof b.abortMultipartUpload === 'function';
}

/**
 * Aborts multipart uploads under the store's prefix started before `startedBefore`: a client or worker
 * that never completed one leaves parts the bucket keeps (and bills) until someone aborts the upload.
 * One that cannot be aborted is reported and tried again on the next sweep.
 */
export async function abortAbandonedUploads(
  blobs: UploadSweepable,
  startedBefore: number,
): Promise<{ aborted: number; failures: { key: string; error: string }[] }> {
  const result = { aborted: 0, failures: [] as { key: string; error: string }[] };
  for (const upload of await blobs.listMultipartUploads()) {
    if (upload.initiatedAt >= startedBefore) continue;
    try {
      await blobs.abortMultipartUpload(upload.key, upload.uploadId);
      result.aborted++;
    } catch (error) {
      result.failures.push({ key: upload.key, error: (error as Error).message });
    }
  }
  return result;
}
