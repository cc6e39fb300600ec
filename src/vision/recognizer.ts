import { UserError } from '../core/errors.js';
import { type EnsureOptions, ensureModel } from '../models/download.js';
import type { ModelEntry } from '../models/registry.js';
import { verifyModel } from '../models/verify.js';
import { alignFace } from './alignment.js';
import type { Point } from './detectors/detector.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import type { RgbImage } from './rgbImage.js';
import type { WarpTemplate } from './templates.js';

/** How a recognizer model wants its crop: template, size, and per-channel RGB normalisation on 0–1. */
export interface RecognizerSpec {
  template: WarpTemplate;
  size: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** Known recognizer models by model-manager name; a manifest can point these names at other files. */
export const RECOGNIZERS: Record<string, RecognizerSpec> = {
  // FaceFusion's ArcFace: x / 127.5 − 1.
  arcface_w600k_r50: { template: 'arcface_112_v2', size: 112, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
  // foamliu's MobileFaceNet (128-d), trained with ImageNet normalisation.
  mobilefacenet: {
    template: 'arcface_112_v2',
    size: 112,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  },
};

export interface Embedding {
  /** L2-normalised. */
  vector: Float32Array;
  /** L2 norm of the raw model output. */
  norm: number;
}

export class FaceRecognizer {
  constructor(
    readonly name: string,
    /** The crop the model wants: align faces to `spec.template` at `spec.size` for `embedCrop`. */
    readonly spec: RecognizerSpec,
    private readonly session: InferenceSession,
  ) {}

  /** The embedding of the face with these 5 landmarks in `image`. */
  embed(image: RgbImage, landmarks: readonly Point[]): Promise<Embedding> {
    const { size, template } = this.spec;
    return this.embedCrop(alignFace(image, landmarks, template, size).crop);
  }

  /** The embedding of a face already aligned to `spec.template`, `spec.size` pixels square. */
  async embedCrop(crop: RgbImage): Promise<Embedding> {
    const { size, mean, std } = this.spec;
    if (crop.width !== size || crop.height !== size) {
      throw new RangeError(`${this.name} takes ${size}x${size} crops, not ${crop.width}x${crop.height}`);
    }
    const area = size * size;
    const input = new Float32Array(3 * area);
    for (let i = 0; i < area; i++) {
      for (let ch = 0; ch < 3; ch++)
        input[ch * area + i] = (crop.data[i * 3 + ch] / 255 - mean[ch]) / std[ch];
    }
    const [raw] = await runSession(this.session, input, [1, 3, size, size]);
    const norm = Math.hypot(...raw);
    return { vector: raw.map((value) => value / norm), norm };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Cosine similarity of two normalised embeddings. */
export function cosineSimilarity(a: Embedding, b: Embedding): number {
  let dot = 0;
  for (let i = 0; i < a.vector.length; i++) dot += a.vector[i] * b.vector[i];
  return dot;
}

/**
 * FaceFusion's face distance, (1 − cos) / 2 in [0, 1]: the scale `--reference-face-distance`
 * (default 0.3) is compared against.
 */
export function faceDistance(a: Embedding, b: Embedding): number {
  return (1 - cosineSimilarity(a, b)) / 2;
}

/** The face recognizer in the catalog: the last one listed, so a manifest's entry wins over the built-in. */
export function recognizerEntry(catalog: ReadonlyMap<string, ModelEntry>): ModelEntry {
  const entries = [...catalog.values()].filter((entry) => entry.role === 'face_recognizer');
  const entry = entries.at(-1);
  if (!entry) throw new UserError('no face_recognizer model is known (add one with --model-manifest)');
  return entry;
}

/** Whether the recognizer can be opened without a download: already verified here, or a local file. */
export async function recognizerAvailable(models: EnsureOptions): Promise<boolean> {
  const entry = recognizerEntry(models.catalog);
  return entry.url.startsWith('file:') || (await verifyModel(entry, models.dir, true)).state === 'ok';
}

/** Fetches (if needed) and opens the catalog's face recognizer. */
export async function loadFaceRecognizer(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceRecognizer> {
  const entry = recognizerEntry(models.catalog);
  const spec = RECOGNIZERS[entry.name];
  if (!spec) {
    throw new UserError(
      `face recognizer "${entry.name}" has no known input layout (known: ${Object.keys(RECOGNIZERS).join(', ')})`,
    );
  }
  const path = await ensureModel(entry.name, models);
  return new FaceRecognizer(entry.name, spec, await openSession(path, entry.name, execution));
}
