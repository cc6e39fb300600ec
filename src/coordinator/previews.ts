import type { BlobStore } from '../blob/blobStore.js';
import { UserError } from '../core/errors.js';
import { count } from '../core/format.js';
import { MediaError } from '../media/errors.js';
import { decodeFrames } from '../media/frameDecoder.js';
import { probeVideo, type VideoProbe } from '../media/probe.js';
import { modelsNotAtHand } from '../models/missing.js';
import type { ModelSettings } from '../models/settings.js';
import type { PreviewFace, PreviewImage, PreviewView } from '../protocol/jobViews.js';
import type { PreviewRequest } from '../protocol/wire.js';
import type { ExecutionOptions } from '../vision/execution.js';
import { requiredModels } from '../vision/faceJob.js';
import { usesFaces } from '../vision/faceOptionGroups.js';
import { type FaceOptions, faceOptionsOf } from '../vision/faceOptions.js';
import type { Frame } from '../vision/frame.js';
import { frameRegionToRgb } from '../vision/frameImage.js';
import { roundedFace } from '../vision/inspect.js';
import { checkExecutionProvider } from '../vision/onnx.js';
import { encodePng } from '../vision/png.js';
import { ProcessorChain } from '../vision/processors/chain.js';
import {
  checkUploadSize,
  DEFAULT_MAX_UPLOAD_BYTES,
  nativeChain,
  probeBlob,
  uploadPrefix,
} from './clusterJobs.js';
import { checkProbedJob } from './jobAdmission.js';

export interface PreviewSettings {
  /** Where the server's copies of the models are; a preview never downloads one. */
  models: ModelSettings;
  /** Where the models run (default: cpu). */
  execution: ExecutionOptions;
  /** A preview running longer is answered 503 and stopped at its next step (default 60 s). */
  timeoutMs?: number;
  /** Largest frame previewed, width × height (default 3840 × 2160); a processed frame may be 4 times that. */
  maxPixels?: number;
  /** Largest upload a preview reads (default 50 GiB), as for jobs. */
  maxUploadBytes?: number;
  /** What a client is told to wait while another preview runs (default 5 s). */
  retryAfterSeconds?: number;
}

/** A preview the server will not run: `status` is the HTTP answer, the message says why. */
export class PreviewRefused extends UserError {
  constructor(
    /** 400 bad request, 404 not the tenant's upload, 409 models missing here, 422 frame too big, 503 busy or too slow. */
    readonly status: 400 | 404 | 409 | 422 | 503,
    message: string,
    /** Seconds to wait before asking again (503 busy). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_PIXELS = 3840 * 2160;

/** A promise that rejects with a 503 when `signal` aborts (the time limit), and never settles otherwise. */
function refusedWhenAborted(signal: AbortSignal, seconds: number): Promise<never> {
  return new Promise((_resolve, reject) =>
    signal.addEventListener(
      'abort',
      () => reject(new PreviewRefused(503, `the preview took longer than ${seconds} s and was stopped`)),
      { once: true },
    ),
  );
}

async function pngOf(frame: Frame): Promise<PreviewImage> {
  const image = frameRegionToRgb(frame, 0, 0, frame.width, frame.height);
  const png = await encodePng(image);
  return { width: image.width, height: image.height, png: `data:image/png;base64,${png.toString('base64')}` };
}

/**
 * "Preview before paying": one frame of a tenant's uploaded video through the chain the job would run,
 * here, in the coordinator's process, with the models in its own model directory (never fetched for a
 * request). The request is checked as a submission is (same schema, same checks); the frame is decoded as a
 * worker decodes it (ffmpeg seeks to it by its timestamp; rotated videos come out upright), its faces are
 * analysed by the chain's own analyser, and the chain runs once. One preview runs at a time per server:
 * another is refused with 503 and a Retry-After; one taking longer than the time limit is answered 503
 * and stopped between steps (a model already running finishes its step).
 */
export class Previews {
  private busy = false;

  constructor(
    private readonly blobs: BlobStore,
    private readonly settings: PreviewSettings,
  ) {}

  async preview(tenant: string, request: PreviewRequest): Promise<PreviewView> {
    if (this.busy)
      throw new PreviewRefused(
        503,
        'another preview is running on this server: try again in a few seconds',
        this.settings.retryAfterSeconds ?? 5,
      );
    const timeoutMs = this.settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const deadline = AbortSignal.timeout(timeoutMs);
    this.busy = true;
    const work = this.run(tenant, request, deadline);
    // The slot is held until the work itself ends, even after a time-limit answer has gone out.
    const free = () => {
      this.busy = false;
    };
    work.then(free, free);
    return Promise.race([work, refusedWhenAborted(deadline, timeoutMs / 1000)]);
  }

  private async run(tenant: string, request: PreviewRequest, signal: AbortSignal): Promise<PreviewView> {
    const started = performance.now();
    const prefix = uploadPrefix(tenant);
    for (const key of [request.input, ...request.sources])
      if (!key.startsWith(prefix)) throw new PreviewRefused(404, `no such upload: ${key}`);
    const checked = nativeChain(request);
    const { processors } = checked;
    const face = faceOptionsOf(checked.face);
    const maxBytes = this.settings.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    for (const key of [request.input, ...request.sources]) await checkUploadSize(this.blobs, key, maxBytes);
    const probe = await probeBlob(this.blobs, request.input, probeVideo);
    const { frame } = request;
    if (frame >= probe.video.frameCount)
      throw new PreviewRefused(
        400,
        `frame ${frame} is not a frame of the video: it has ${count(probe.video.frameCount, 'frame')} (0 to ${probe.video.frameCount - 1})`,
      );
    checkProbedJob({ processors, face }, probe);
    const maxPixels = this.settings.maxPixels ?? DEFAULT_MAX_PIXELS;
    const { width, height } = probe.video;
    if (width * height > maxPixels)
      throw new PreviewRefused(
        422,
        `the frames are too big to preview here: ${width}x${height} (at most ${maxPixels} pixels)`,
      );
    await this.checkModels(processors, face);
    signal.throwIfAborted();

    const original = await this.decode(request.input, probe, frame, signal);
    const chain = await ProcessorChain.load(processors, {
      sources: await Promise.all(request.sources.map((key) => this.blobs.readUrl(key))),
      target: await this.blobs.readUrl(request.input),
      face,
      execution: this.settings.execution,
      models: this.settings.models,
    });
    try {
      const out = chain.outputSize(width, height);
      if (out.width * out.height > 4 * maxPixels)
        throw new PreviewRefused(
          422,
          `the processed frame would be too big to preview here: ${out.width}x${out.height} (at most ${4 * maxPixels} pixels)`,
        );
      // The processors paste into the frame they are given: they get a copy, the original is kept.
      const working: Frame = { ...original, data: Buffer.from(original.data) };
      signal.throwIfAborted();
      const found = usesFaces(processors) ? await chain.analyseFaces(working) : undefined;
      const processed = await chain.process(working, signal);
      const faces: PreviewFace[] | null = found
        ? found.detected.map((f) => ({ ...roundedFace(f), picked: found.selected.has(f) }))
        : null;
      return {
        frame,
        frames: probe.video.frameCount,
        faces,
        selector: found ? { mode: face.selector.mode, order: face.selector.order } : null,
        original: await pngOf(original),
        processed: await pngOf(processed),
        seconds: Math.round(performance.now() - started) / 1000,
      };
    } finally {
      await chain.dispose();
    }
  }

  /** Every model the chain opens is here and verified, and the execution provider runs; else a 409. */
  private async checkModels(processors: readonly string[], face: FaceOptions): Promise<void> {
    const { models, execution } = this.settings;
    const needed = requiredModels(processors, face, models.catalog);
    if (needed.length === 0) return;
    const absent = await modelsNotAtHand(needed, models);
    if (absent.length > 0) {
      const names = absent.map((a) => (a.state === 'corrupt' ? `${a.name} (corrupt)` : a.name));
      throw new PreviewRefused(
        409,
        `this server cannot preview that chain: ${count(absent.length, 'model')} it needs ${absent.length === 1 ? 'is' : 'are'} not in its model directory: ` +
          `${names.join(', ')} (its operator can run "spotfuse models download ${absent.map((a) => a.name).join(' ')}" there)`,
      );
    }
    try {
      await checkExecutionProvider(execution.provider);
    } catch (error) {
      throw new PreviewRefused(409, `this server cannot preview: ${(error as Error).message}`);
    }
  }

  /** Frame `index` as a worker decodes it: at the display size, upright. */
  private async decode(key: string, probe: VideoProbe, index: number, signal: AbortSignal): Promise<Frame> {
    const url = await this.blobs.readUrl(key);
    const { video } = probe;
    try {
      for await (const data of decodeFrames({
        input: url,
        probe,
        startFrame: index,
        endFrame: index + 1,
        signal,
      }))
        return {
          index,
          width: video.width,
          height: video.height,
          pixFmt: video.pipePixFmt,
          colour: video.colour,
          data: Buffer.from(data),
        };
    } catch (error) {
      if (error instanceof MediaError)
        throw new PreviewRefused(422, `cannot decode frame ${index} of ${key}`);
      throw error;
    }
    throw new PreviewRefused(422, `cannot decode frame ${index} of ${key}`);
  }
}
