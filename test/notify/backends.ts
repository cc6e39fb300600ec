import type { JobSpec, NotifySpec } from '../../src/core/types.js';
import type { Store, StoredJob } from '../../src/store/store.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';

export { type Backend, backends, type OpenedStore } from '../helpers/storeBackends.js';

export function jobSpec(notify?: NotifySpec): JobSpec {
  return {
    input: '/in.mp4',
    sources: [],
    output: '/videos/out.mp4',
    processors: ['passthrough'],
    face: DEFAULT_FACE_OPTIONS,
    encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
    checkpointFrames: 10,
    ...(notify ? { notify } : {}),
  };
}

/** A one-chunk job of 10 frames. */
export function createJob(store: Store, notify?: NotifySpec, tenant?: string): Promise<StoredJob> {
  const framePts = Array.from({ length: 10 }, (_, i) => i * 512);
  return store.createJob(
    {
      key: 'k',
      spec: jobSpec(notify),
      probe: { video: { fps: 30 } },
      framePts,
      chunks: [{ start: 0, end: 10 }],
      tenant,
    },
    1000,
  );
}

/** Runs the job's chunk and merge through the lease calls, so it ends `completed` at `now`. */
export async function completeJob(store: Store, jobId: string, now = 5000): Promise<void> {
  const chunk = await store.claim({ workerId: 'w', pool: 'spot', now: now - 2000, leaseTtlMs: 60_000 });
  if (chunk?.job.id !== jobId) throw new Error('expected to claim the job');
  await store.checkpoint(
    chunk.task.id,
    chunk.task.epoch,
    { range: { start: 0, end: 10 }, key: 's0' },
    now - 1500,
  );
  await store.complete(chunk.task.id, chunk.task.epoch, now - 1000);
  const merge = await store.claim({ workerId: 'w', pool: 'spot', now: now - 500, leaseTtlMs: 60_000 });
  if (merge?.task.kind !== 'merge') throw new Error('expected the merge');
  await store.complete(merge.task.id, merge.task.epoch, now);
}

/** Fails the job's chunk once with a budget of one attempt, so the job ends `failed`. */
export async function failJob(store: Store, jobId: string, now = 5000): Promise<void> {
  const chunk = await store.claim({ workerId: 'w', pool: 'spot', now: now - 1000, leaseTtlMs: 60_000 });
  if (chunk?.job.id !== jobId) throw new Error('expected to claim the job');
  await store.release(chunk.task.id, chunk.task.epoch, 'error', 'decoder exploded', now, 1);
}
