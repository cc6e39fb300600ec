import { stat } from 'node:fs/promises';
import { hashFile } from '../models/hashes.js';
import type { JobStore, OutputFile, StoredJob } from '../store/store.js';
import { type JobRequest, jobKey } from './jobInput.js';

/** Size and SHA-256 of an output file; undefined when it is not there (or not a file). */
export async function outputFile(path: string): Promise<OutputFile | undefined> {
  try {
    if (!(await stat(path)).isFile()) return undefined;
    const { size, sha256 } = await hashFile(path);
    return { bytes: size, sha256 };
  } catch {
    return undefined;
  }
}

/**
 * The completed job that this request would do again, when its output is still exactly the file it
 * wrote (same size, same SHA-256). Nothing is probed, so the answer comes at once; an unfinished job with
 * the same key (a forced rerun that was interrupted) is resumed instead.
 */
export async function finishedJob(store: JobStore, request: JobRequest): Promise<StoredJob | undefined> {
  const key = jobKey(request);
  if (key === undefined || (await store.findUnfinishedJob(key))) return undefined;
  const done = await store.findCompletedJob(key);
  if (!done?.output) return undefined;
  const recorded = done.output;
  const size = await stat(done.job.spec.output).then(
    (s) => s.size,
    () => undefined,
  );
  if (size !== recorded.bytes) return undefined;
  const current = await outputFile(done.job.spec.output);
  return current?.sha256 === recorded.sha256 ? done.job : undefined;
}
