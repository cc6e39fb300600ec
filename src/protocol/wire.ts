import { z } from 'zod';
import type { UploadedPart } from '../blob/blobStore.js';
import { MAX_OBJECT_SIZE, MAX_PARTS } from '../blob/s3Limits.js';
import { OUTPUT_VIDEO_FPS, type OutputFrames } from '../core/outputFrameRate.js';
import {
  ENGINE_NAMES,
  INSTANCE_FACT,
  type JobSpec,
  MAX_GPU_MEMORY_MIB,
  NOTIFY_EVENTS,
  type TaskKind,
} from '../core/types.js';
import { AUDIO_ENCODERS } from '../media/audioOptions.js';
import { ENCODER_PRESETS } from '../media/encoders.js';
import type { StoredProbe } from '../media/probe.js';
import { emailProblem, MAX_EMAILS, MAX_WEBHOOKS, webhookUrlProblem } from '../notify/targets.js';
import {
  FACE_MASK_AREAS,
  FACE_MASK_REGIONS,
  FACE_MASK_TYPES,
  FACE_OCCLUDER_MODELS,
  FACE_PARSER_MODELS,
  FACE_SELECTOR_ORDERS,
  GENDERS,
  RACES,
} from '../vision/analysisOptions.js';
import { FACE_DETECTOR_ANGLES } from '../vision/detectors/detector.js';
import type { AnyProcessorDescriptor, OptionKind } from '../vision/processors/descriptor.js';
import { PROCESSORS } from '../vision/processors/list.js';
import { Text } from './textSchema.js';

/** Wire format of the lease protocol, shared by the HTTP server and the worker's client. */

const InstanceFact = Text.regex(INSTANCE_FACT, 'an instance fact is 1-100 printable characters');

/** Epochs and frame indices are PostgreSQL `integer`s: a bigger number is a 400, not a failed statement. */
const MAX_INT = 2 ** 31 - 1;

/**
 * The lease protocol's version: a worker claims with it, and a coordinator hands work only to workers of its
 * own. Raised when a change makes a worker and a coordinator of different releases misread each other
 * (2: a merge claim lists segment keys, and the merge asks for their read URLs a page at a time); a release
 * whose wire is unchanged keeps it, so that a rolling upgrade goes on working. Claims without one are 1's.
 */
export const LEASE_PROTOCOL = 2;

/** Answers that mean the coordinator is restarting or overloaded (or its proxy lost it), not that the call was wrong. */
export const COORDINATOR_UNAVAILABLE = new Set([502, 503, 504]);

/** What a worker and a coordinator of different lease protocols each say: both versions, and the fix. */
export function protocolMismatch(workerProtocol: number, coordinatorProtocol: number): string {
  return `this worker speaks lease protocol ${workerProtocol} and the coordinator ${coordinatorProtocol}: run workers and coordinator from one spotfuse release`;
}

export const ClaimBody = z.object({
  /** The worker's LEASE_PROTOCOL; 1 for a worker older than the check, which is told rather than just refused. */
  protocol: z.number().int().positive().max(MAX_INT).default(1),
  workerId: Text.min(1).max(200),
  pool: z.enum(['spot', 'on-demand']).default('spot'),
  /** The worker's machine, as its cloud's metadata service tells (recorded with the attempt). */
  cloud: InstanceFact.optional(),
  instanceType: InstanceFact.optional(),
  zone: InstanceFact.optional(),
  lifecycle: z.enum(['spot', 'on-demand']).optional(),
  /** The engines the worker runs: it is handed no process task of a job on another one. */
  engines: z.array(z.enum(ENGINE_NAMES)).min(1).max(ENGINE_NAMES.length).default(['native']),
});

const Count = z.number().int().nonnegative().max(MAX_INT);

const Epoch = Count;

/** The task of a `/v1/tasks/:id/...` call. */
export const TaskIdParams = z.object({ id: Text.min(1).max(200) });

const GpuMemoryMiB = z.number().int().nonnegative().max(MAX_GPU_MEMORY_MIB);

export const HeartbeatBody = z.object({
  epoch: Epoch,
  framesDone: Count,
  fps: z.number().nonnegative().optional(),
  /** Mean utilisation of the worker's GPUs, percent. */
  gpuUtilization: z.number().min(0).max(100).optional(),
  gpuMemoryUsedMiB: GpuMemoryMiB.optional(),
  gpuMemoryTotalMiB: GpuMemoryMiB.optional(),
});

export const SegmentUrlBody = z.object({ epoch: Epoch, startFrame: Count });

/** Segments a merge asks read URLs for in one call. */
export const SEGMENT_READ_URLS_PAGE = 100;

/** `POST /tasks/:id/segment-read-urls`: the merge task's holder asks where to read these segments of its job. */
export const SegmentReadUrlsBody = z.object({
  epoch: Epoch,
  keys: z.array(Text.min(1).max(1000)).min(1).max(SEGMENT_READ_URLS_PAGE),
});

/** The URL of `keys[i]` at index i. */
export interface SegmentReadUrlsResponse {
  urls: string[];
}

const Sha256 = Text.regex(/^[0-9a-f]{64}$/, 'a SHA-256 is 64 lowercase hex digits');

export const CheckpointBody = z.object({
  epoch: Epoch,
  startFrame: Count,
  endFrame: Count.positive(),
  key: Text.min(1).max(1000),
  /** The uploaded segment as its worker wrote it: what the merge checks the blob against. */
  sha256: Sha256.optional(),
  bytes: z.number().int().nonnegative().max(MAX_OBJECT_SIZE).optional(),
  /** Frames the worker encoded into it: must be endFrame - startFrame. */
  frames: Count.positive().optional(),
  /** Its worker decoded every frame of it and found the planned frames and timestamps (as the merge checks). */
  decoded: z.literal(true).optional(),
});

/** A merge task's completion says what it wrote: the output's size and SHA-256, for the job's report. */
export const CompleteBody = z.object({
  epoch: Epoch,
  output: z.object({ bytes: z.number().int().nonnegative(), sha256: Sha256 }).optional(),
});

/** `POST /tasks/:id/reject-segments`: the merge task's holder found these segments damaged. */
export const RejectSegmentsBody = z.object({
  epoch: Epoch,
  segments: z
    .array(z.object({ taskId: Text.min(1).max(200), startFrame: Count, reason: Text.min(1).max(1000) }))
    .min(1)
    .max(10_000),
});

/**
 * One segment of a merge: its blob, where it sits, and what it must be. Where to read it the merge asks
 * in pages (`/tasks/:id/segment-read-urls`) as it downloads: a claim that signed every URL of a long job
 * (10,000 segments: 6.6 MB) held the coordinator for a second, and the last URLs could expire unread.
 */
export interface MergeSegmentInput {
  key: string;
  durationMicros: number;
  taskId: string;
  startFrame: number;
  endFrame: number;
  /** As recorded at its checkpoint; null for a segment recorded without them. */
  sha256: string | null;
  bytes: number | null;
  /** Its worker decoded it before the upload: the merge decodes it again only when its bytes differ. */
  decoded: boolean;
}

export const ReleaseBody = z.object({
  epoch: Epoch,
  reason: z.enum(['preempted', 'error']),
  error: Text.max(4000).optional(),
});

export interface MergeInput {
  segments: MergeSegmentInput[];
  /** One presigned PUT (or a `file:` URL): enough up to `multipartAboveBytes`. */
  outputUrl: string;
  /**
   * Where the blob store takes multipart uploads: an output bigger than this goes in parts through
   * `/tasks/:id/output-upload` and `/tasks/:id/output-complete` (S3 refuses single PUTs over 5 GiB).
   */
  multipartAboveBytes?: number;
}

/** `POST /tasks/:id/output-upload`: part URLs for the merged output; with `uploadId`, resumes that upload. */
export const OutputUploadBody = z.object({
  epoch: Epoch,
  size: z.number().int().nonnegative().max(MAX_OBJECT_SIZE),
  uploadId: Text.min(1).max(1000).optional(),
});

export interface OutputUploadResponse {
  uploadId: string;
  partSize: number;
  /** Presigned UploadPart URL of part n at index n - 1. */
  partUrls: string[];
  /** Parts the upload already has (when resuming). */
  uploaded: UploadedPart[];
}

/** `POST /tasks/:id/output-complete`: joins the parts into the output; `etags[n - 1]` is part n's. */
export const OutputCompleteBody = z.object({
  epoch: Epoch,
  uploadId: Text.min(1).max(1000),
  etags: z.array(Text.min(1).max(200)).min(1).max(MAX_PARTS),
});

export interface ClaimResponse {
  /** The coordinator's LEASE_PROTOCOL. */
  protocol: number;
  leaseTtlMs: number;
  task: {
    id: string;
    jobId: string;
    kind: TaskKind;
    startFrame: number;
    endFrame: number;
    nextFrame: number;
    epoch: number;
  };
  /** The job's spec, without whom it notifies: a worker has no business with a tenant's webhooks and addresses. */
  spec: Omit<JobSpec, 'notify'>;
  /** The job's `VideoProbe`, without the per-frame timestamps. */
  probe: StoredProbe;
  inputUrl: string;
  /**
   * Timestamps (stream ticks) of frames [framePtsFrom, endFrame) for a process task; they start one frame
   * before `nextFrame` where there is one, because the decoder seeks between that frame and the next. A merge
   * task gets every frame's, to check each segment's timestamps against.
   */
  framePts: number[];
  framePtsFrom: number;
  /**
   * A job with `--output-video-fps`: where each frame from `nextFrame` (a merge: from the job's first) goes in
   * the output, and which the output drops.
   */
  outputFrames?: OutputFrames;
  merge?: MergeInput;
}

export interface SegmentUrlResponse {
  key: string;
  url: string;
}

/** 409 body: the caller's lease is gone (`stale`) or its job was canceled. */
export interface LeaseConflict {
  error: 'stale' | 'canceled';
}

/** Tenant job API (cluster mode). */

/** A blob key as the upload route handed it out: a plain relative path. */
const BlobKey = Text.min(1)
  .max(900)
  .regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a blob key is a relative path of plain names')
  .refine(
    (key) => key.split('/').every((part) => part !== '.' && part !== '..'),
    'no "." or ".." in a blob key',
  );

/** `POST /v1/uploads`: where to put a file of `size` bytes. */
export const UploadBody = z.strictObject({
  name: Text.min(1).max(255),
  size: z.number().int().nonnegative(),
});

export type UploadResponse =
  | { key: string; url: string }
  | {
      key: string;
      multipart: {
        uploadId: string;
        partSize: number;
        /** How many parts the upload has. */
        parts: number;
        /** Presigned URLs of the first parts only (part n at index n - 1): one page, not all of them. */
        partUrls: string[];
        /** Most part URLs one `POST /v1/uploads/parts` hands out. */
        pageSize: number;
      };
    };

/** `POST /v1/uploads/parts`: URLs for more parts of a multipart upload, a page at a time. */
export const UploadPartsBody = z.strictObject({
  key: BlobKey,
  uploadId: Text.min(1).max(1000),
  partNumbers: z.array(z.number().int().min(1).max(MAX_PARTS)).min(1).max(1000),
});

export interface UploadPartsResponse {
  /** In the order of `partNumbers`. */
  partUrls: string[];
}

/** `POST /v1/uploads/complete`: joins the parts of a multipart upload. */
export const CompleteUploadBody = z.strictObject({
  key: BlobKey,
  uploadId: Text.min(1).max(1000),
  etags: z.array(Text.min(1).max(200)).min(1).max(10_000),
});

const Score = z.number().min(0).max(1);
const ModelName = Text.min(1).max(100);

/** The wire schema of each kind of processor option (src/vision/processors/descriptor.ts). */
const OPTION_SCHEMAS: Record<OptionKind, z.ZodType> = {
  model: ModelName,
  size: Text.max(20),
  unit: Score,
  percent: z.number().min(0).max(100),
  names: z.array(Text.min(1).max(40)).min(1).max(20),
};

/** Each processor's own group of face options, as a client may send any subset of it, from its descriptor. */
export function processorOptionSchemas(
  descriptors: readonly AnyProcessorDescriptor[] = PROCESSORS,
): Record<string, z.ZodOptional<z.ZodType>> {
  return Object.fromEntries(
    descriptors.flatMap((p) => {
      if (!p.options) return [];
      const fields = p.options.fields as Record<string, { kind: OptionKind }>;
      const shape = Object.fromEntries(
        Object.entries(fields).map(([field, { kind }]) => [field, OPTION_SCHEMAS[kind]]),
      );
      return [[p.options.key, z.strictObject(shape).partial().optional()]];
    }),
  );
}

const MarginPercent = z.number().int().min(0).max(100);

/** The shared face analysis groups (src/vision/analysisOptions.ts). */
const sharedFaceOptionSchemas = {
  detector: z
    .strictObject({
      model: ModelName,
      size: Text.max(20),
      minScore: Score,
      angles: z.array(z.literal(FACE_DETECTOR_ANGLES)).min(1).max(FACE_DETECTOR_ANGLES.length),
      /** Top, right, bottom, left. */
      margin: z.tuple([MarginPercent, MarginPercent, MarginPercent, MarginPercent]),
    })
    .partial()
    .optional(),
  landmarker: z.enum(['none', '2dfan4']).optional(),
  landmarkerScore: Score.optional(),
  selector: z
    .strictObject({
      mode: z.enum(['reference', 'one', 'many']),
      order: z.enum(FACE_SELECTOR_ORDERS),
      referenceDistance: Score,
      /** A frame of the video (checked against its frame count at submit). */
      referenceFrame: Count,
      referencePosition: z.number().int().nonnegative().max(1000),
      gender: z.enum([...GENDERS, 'auto']),
      race: z.enum([...RACES, 'auto']),
      ageStart: z.number().int().min(0).max(100),
      ageEnd: z.number().int().min(0).max(100),
    })
    .partial()
    .optional(),
  mask: z
    .strictObject({
      types: z.array(z.enum(FACE_MASK_TYPES)).min(1).max(FACE_MASK_TYPES.length),
      blur: Score,
      padding: z.tuple([
        z.number().min(0).max(100),
        z.number().min(0).max(100),
        z.number().min(0).max(100),
        z.number().min(0).max(100),
      ]),
      areas: z.array(z.enum(FACE_MASK_AREAS)).min(1).max(FACE_MASK_AREAS.length),
      regions: z.array(z.enum(FACE_MASK_REGIONS)).min(1).max(FACE_MASK_REGIONS.length),
      parser: z.enum(FACE_PARSER_MODELS),
      occluder: z.enum(FACE_OCCLUDER_MODELS),
    })
    .partial()
    .optional(),
};

/** Face options as a client sends them: any subset; the rest are FaceFusion's defaults. */
export const faceOptionsPatch = (descriptors: readonly AnyProcessorDescriptor[] = PROCESSORS) =>
  z.strictObject({
    ...sharedFaceOptionSchemas,
    ...processorOptionSchemas(descriptors),
  });

export const FaceOptionsPatch = faceOptionsPatch();

export const OUTPUT_FORMATS = ['mp4', 'm4v', 'mov', 'mkv', 'webm'] as const;

function refineWith(ctx: z.RefinementCtx, problem: string | undefined): void {
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

/** `POST /v1/jobs`: a job on blobs uploaded through `/v1/uploads`. */
export const SubmitBody = z.strictObject({
  input: BlobKey,
  sources: z.array(BlobKey).max(16).default([]),
  processors: z.array(Text.min(1).max(50)).min(1).max(8),
  face: FaceOptionsPatch.prefault({}),
  encoder: z
    .strictObject({
      encoder: Text.min(1).max(50).default('libx264'),
      quality: z.number().min(0).max(100).default(80),
      preset: z.enum(ENCODER_PRESETS).default('veryfast'),
      /** FaceFusion's `--output-video-scale`: the output is the input's size times this; absent: 1. */
      scale: z.number().min(0.25).max(8).multipleOf(0.25).optional(),
      /** FaceFusion's `--output-video-fps`: frames dropped or repeated to this rate; absent: the input's frames. */
      fps: z.number().min(OUTPUT_VIDEO_FPS.min).max(OUTPUT_VIDEO_FPS.max).optional(),
      /** FaceFusion's output audio options; absent: the source's audio is copied where the container allows. */
      audio: z
        .strictObject({
          encoder: z.enum(Object.keys(AUDIO_ENCODERS) as [string, ...string[]]).optional(),
          quality: z.number().min(0).max(100).optional(),
          volume: z.number().min(0).max(100).optional(),
        })
        .optional(),
    })
    .prefault({}),
  checkpointFrames: z.number().int().min(1).max(100_000).default(100),
  /** FaceFusion's --trim-frame-start/--trim-frame-end: only these frames, clamped to the video. */
  trim: z.strictObject({ start: z.number().int().optional(), end: z.number().int().optional() }).optional(),
  /** Run on the workers' own FaceFusion, with its options (checked against those spotfuse sets itself). */
  engine: z
    .strictObject({
      name: z.literal('facefusion'),
      args: z.array(Text.max(1000)).max(200).default([]),
      /** A facefusion.ini's text. */
      config: Text.max(64 * 1024).optional(),
    })
    .optional(),
  // Bounded here; how small a coordinator lets tasks be is its --min-chunk-frames.
  chunkFrames: Count.positive().max(100_000_000).optional(),
  chunkSeconds: z.number().positive().max(1_000_000).optional(),
  priority: z.enum(['urgent', 'normal']).default('normal'),
  /** When the job must be done (ISO 8601 with a zone): spot alone too slow for it, on-demand workers are asked for. */
  deadline: z.iso.datetime({ offset: true }).optional(),
  outputFormat: z.enum(OUTPUT_FORMATS).default('mp4'),
  /** Notified when the job ends (Standard Webhooks, signed with the tenant's secret). */
  webhooks: z
    .array(Text.superRefine((url, ctx) => refineWith(ctx, webhookUrlProblem(url))))
    .max(MAX_WEBHOOKS)
    .default([]),
  emails: z
    .array(Text.superRefine((address, ctx) => refineWith(ctx, emailProblem(address))))
    .max(MAX_EMAILS)
    .default([]),
  /** Optional events on top of job.completed and job.failed: job.progress, task.preempted. */
  events: z.array(z.enum(NOTIFY_EVENTS)).max(NOTIFY_EVENTS.length).default([]),
});
export type SubmitRequest = z.infer<typeof SubmitBody>;

/**
 * `POST /v1/previews`: one frame of an uploaded video through the chain a job with these fields of its
 * submit body would run (native engine), checked as the job would be.
 */
export const PreviewBody = SubmitBody.pick({
  input: true,
  sources: true,
  processors: true,
  face: true,
}).extend({
  /** The frame to preview, from 0, in presentation order. */
  frame: Count,
});
export type PreviewRequest = z.infer<typeof PreviewBody>;

export const JobIdParams = z.object({ id: Text.min(1).max(100) });

/** `GET /v1/jobs/:id?tasks=true`: the report with each task's cost. */
export const JobReportQuery = z.object({
  tasks: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});
