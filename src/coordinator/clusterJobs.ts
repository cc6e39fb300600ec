import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../blob/blobStore.js';
import { UserError } from '../core/errors.js';
import { facefusionArgsProblem, parseFacefusionProcessors } from '../core/facefusion.js';
import type { JobSpec } from '../core/types.js';
import { videoEncoders } from '../media/encoders.js';
import { MediaError } from '../media/errors.js';
import { inputName } from '../media/inputName.js';
import { outputFormatProblem } from '../media/merge.js';
import { probeImage, probeVideo } from '../media/probe.js';
import { notifySpec } from '../notify/targets.js';
import type { SubmitRequest } from '../protocol/wire.js';
import type { StoredJob } from '../store/store.js';
import { checkFaceJob } from '../vision/faceJob.js';
import { unusedFaceOptionsProblem } from '../vision/faceOptionGroups.js';
import { faceOptionsOf } from '../vision/faceOptions.js';
import { parseProcessorList } from '../vision/processors/registry.js';
import { checkProbedJob, type JobAdmission } from './jobAdmission.js';
import { blobRef } from './leaseService.js';

export const DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 ** 3;

/** Where a tenant's uploads live in the blob store; a job may only name blobs under its tenant's prefix. */
export function uploadPrefix(tenant: string): string {
  return `uploads/${tenant}/`;
}

/**
 * A fresh key for an upload of `size` bytes named `name` (its last path segment, made plain) by `tenant`:
 * `uploads/<tenant>/<random>-<size>/<name>`. The declared size travels in the key, so that the stored
 * blob can be held to it when a job uses it.
 */
export function uploadKey(tenant: string, name: string, size: number): string {
  const base = name.split(/[\\/]/).pop() ?? '';
  let plain = base.replace(/[^A-Za-z0-9._-]/g, '_').slice(-100);
  if (plain === '' || /^\.+$/.test(plain)) plain = 'file';
  return `${uploadPrefix(tenant)}${randomBytes(8).toString('hex')}-${size}/${plain}`;
}

/** The size an upload's key declares (see uploadKey); undefined for a key that declares none. */
export function declaredUploadSize(key: string): number | undefined {
  const match = /^uploads\/[^/]+\/[0-9a-f]{16}-(\d{1,16})\/[^/]+$/.exec(key);
  return match ? Number(match[1]) : undefined;
}

/**
 * The stored blob is what its upload declared: the size in its key, no more than the largest upload,
 * byte for byte that size (the local store checks nothing while a tenant writes, and a multipart
 * upload may have been completed with parts missing), and a plain file (see BlobStore.size).
 */
export async function checkUploadSize(blobs: BlobStore, key: string, maxBytes: number): Promise<void> {
  const declared = declaredUploadSize(key);
  if (declared === undefined)
    throw new UserError(`not an upload key (no declared size): ${key}: upload the file again`);
  if (declared > maxBytes) throw new UserError(`upload too big: ${key} (at most ${maxBytes} bytes)`);
  const stored = await blobs.size(key);
  if (stored === undefined) throw new UserError(`no such upload: ${key}`);
  if (stored !== declared)
    throw new UserError(
      `upload ${key} holds ${stored} bytes, not the ${declared} declared: upload the file again`,
    );
}

export interface SubmitDeps {
  blobs: BlobStore;
  /** Queues the checked job, under the coordinator's tenant limits. */
  admission: JobAdmission;
  /** Workers a job is expected to run on at once: the planner makes at least this many chunks. */
  parallelism: number;
  /** Whether email notifications can be sent (an SMTP server is configured). */
  email?: boolean;
  /** Largest upload a job may use (default 50 GiB); every upload is also held to the size it declared. */
  maxUploadBytes?: number;
}

/** The job spec with the tenant's priority (urgent|normal) and deadline (epoch ms), kept with the spec. */
export type ClusterJobSpec = JobSpec & { priority: 'urgent' | 'normal'; deadline?: number };

/** Probes the blob `key` through a presigned URL; a MediaError becomes a UserError naming the key, not the URL. */
export async function probeBlob<T>(
  blobs: BlobStore,
  key: string,
  probe: (url: string) => Promise<T>,
): Promise<T> {
  const url = await blobs.readUrl(key);
  try {
    return await probe(url);
  } catch (error) {
    if (error instanceof MediaError) {
      const message = error.message.split(url).join(key).split(inputName(url)).join(key);
      throw new UserError(message);
    }
    throw error;
  }
}

/** The request's processors and face options for the native engine, checked against its processors. */
export function nativeChain(
  request: Pick<SubmitRequest, 'processors' | 'face' | 'sources'>,
): Pick<JobSpec, 'processors' | 'face'> {
  const processors = parseProcessorList(request.processors.join(','));
  const unused = unusedFaceOptionsProblem(processors, request.face);
  if (unused) throw new UserError(unused);
  const face = faceOptionsOf(request.face);
  checkFaceJob(processors, face, request.sources);
  return { processors, face };
}

/** FaceFusion's processors, and no face options of spotfuse's: FaceFusion reads its own (`engine.args`). */
function facefusionChain(request: SubmitRequest): Pick<JobSpec, 'processors' | 'face'> {
  const processors = parseFacefusionProcessors(request.processors.join(','));
  if (typeof processors === 'string') throw new UserError(processors);
  if (Object.keys(request.face).length > 0)
    throw new UserError("the facefusion engine takes FaceFusion's options (engine.args), not face options");
  const problem = facefusionArgsProblem(request.engine?.args ?? []);
  if (problem) throw new UserError(problem);
  return { processors, face: {} };
}

/**
 * The tenant API's front door. Checks a tenant's job: every blob it names is one of the tenant's uploads,
 * the processors and options are known, the input is a readable video (probed through a presigned URL, so
 * its bytes never pass through the coordinator) and the sources are images; then queues it through
 * JobAdmission, under the tenant limits. A UserError says what is wrong; nothing is queued then.
 */
export async function submitJob(
  deps: SubmitDeps,
  tenant: string,
  request: SubmitRequest,
): Promise<StoredJob> {
  const prefix = uploadPrefix(tenant);
  for (const key of [request.input, ...request.sources]) {
    if (!key.startsWith(prefix)) throw new UserError(`not one of your uploads: ${key}`);
  }
  if (request.chunkFrames !== undefined && request.chunkSeconds !== undefined)
    throw new UserError('give chunkFrames or chunkSeconds, not both');
  if (request.emails.length > 0 && !deps.email)
    throw new UserError('this coordinator sends no email: it has no SMTP server (--smtp-url)');
  const deadline = request.deadline === undefined ? undefined : Date.parse(request.deadline);
  if (deadline !== undefined && deadline <= Date.now())
    throw new UserError(`deadline ${request.deadline} is not in the future`);
  const notify = notifySpec(request.webhooks, request.emails, request.events);
  const { engine } = request;
  const { processors, face } = engine ? facefusionChain(request) : nativeChain(request);
  if (!(await videoEncoders()).has(request.encoder.encoder))
    throw new UserError(
      `unknown encoder "${request.encoder.encoder}": the coordinator's ffmpeg has no such encoder`,
    );
  const formatProblem = outputFormatProblem(
    `output.${request.outputFormat}`,
    request.encoder.encoder,
    request.encoder.audio,
  );
  if (formatProblem) throw new UserError(formatProblem);
  for (const key of [request.input, ...request.sources]) {
    await checkUploadSize(deps.blobs, key, deps.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES);
  }
  for (const key of request.sources) {
    await probeBlob(deps.blobs, key, probeImage);
  }
  const probe = await probeBlob(deps.blobs, request.input, probeVideo);
  checkProbedJob({ processors, face, engine, trim: request.trim, encoder: request.encoder }, probe);
  const spec: ClusterJobSpec = {
    input: blobRef(request.input),
    sources: request.sources.map(blobRef),
    output: blobRef(`outputs/${tenant}/${randomBytes(8).toString('hex')}/output.${request.outputFormat}`),
    processors,
    face,
    encoder: request.encoder,
    checkpointFrames: request.checkpointFrames,
    ...(request.trim ? { trim: request.trim } : {}),
    ...(engine ? { engine } : {}),
    priority: request.priority,
    ...(deadline === undefined ? {} : { deadline }),
    ...(notify ? { notify } : {}),
  };
  const { job } = await deps.admission.admit({
    // Every submission is a job of its own: no resuming by key across tenants' submissions.
    key: `submit:${randomBytes(12).toString('hex')}`,
    spec,
    probe,
    tenant,
    chunking: {
      parallelism: deps.parallelism,
      chunkFrames: request.chunkFrames,
      chunkSeconds: request.chunkSeconds,
    },
  });
  return job;
}
