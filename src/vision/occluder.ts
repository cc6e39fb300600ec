import type { EnsureOptions } from '../models/download.js';
import { ensureModel } from '../models/download.js';
import type { FaceOccluderModel } from './analysisOptions.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { smoothModelMask } from './masks.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import { resizeBilinear } from './resample.js';
import type { RgbImage } from './rgbImage.js';

/** xseg's input and output side (face_masker.py: xseg_1/2/3 at 256×256). */
const SIZE = 256;

/** The model files behind an `--face-occluder-model`: `many` is all three. */
export function occluderModels(model: FaceOccluderModel): string[] {
  return model === 'many' ? ['xseg_1', 'xseg_2', 'xseg_3'] : [model];
}

/**
 * FaceFusion's occlusion mask (face_masker.create_occlusion_mask): the crop resized to 256×256,
 * fed NHWC in BGR order (FaceFusion's frames are BGR and it does not flip them here) on 0–1; each
 * model's output (1×256×256×1, 1 = face visible) clipped to 0–1 and resized back to the crop; with
 * several models (`many`) their minimum; then smoothed (σ 5 blur, clip to 0.5–1, rescaled to 0–1).
 */
export class FaceOccluder {
  private readonly input = new Float32Array(SIZE * SIZE * 3);
  private readonly resized = new Uint8Array(SIZE * SIZE * 3);

  constructor(
    readonly name: string,
    private readonly sessions: readonly InferenceSession[],
  ) {}

  /** The mask of a square crop: crop.width² values, 0 (occluded) to 1 (face). */
  async mask(crop: RgbImage): Promise<Float32Array> {
    const { width, height } = crop;
    if (width !== height) throw new RangeError(`occlusion masks take square crops, not ${width}x${height}`);
    resizeBilinear(crop.data, width, height, 3, SIZE, SIZE, this.resized);
    const { input, resized } = this;
    for (let i = 0; i < SIZE * SIZE * 3; i += 3) {
      input[i] = resized[i + 2] / 255;
      input[i + 1] = resized[i + 1] / 255;
      input[i + 2] = resized[i] / 255;
    }
    let mask: Float32Array | undefined;
    for (const session of this.sessions) {
      const [output] = await runSession(session, input, [1, SIZE, SIZE, 3]);
      const clipped = new Float32Array(SIZE * SIZE);
      for (let i = 0; i < clipped.length; i++) {
        const v = output[i];
        clipped[i] = v < 0 ? 0 : Math.min(v, 1);
      }
      const own = new Float32Array(width * width);
      resizeBilinear(clipped, SIZE, SIZE, 1, width, width, own);
      if (mask) for (let i = 0; i < own.length; i++) mask[i] = Math.min(mask[i], own[i]);
      else mask = own;
    }
    return smoothModelMask(mask as Float32Array, width);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.sessions.map((session) => session.release()));
  }
}

/** Fetches (if needed) and opens the occluder model(s) of `--face-occluder-model`. */
export async function loadFaceOccluder(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
  model: FaceOccluderModel = 'xseg_1',
): Promise<FaceOccluder> {
  const sessions: InferenceSession[] = [];
  try {
    for (const name of occluderModels(model)) {
      sessions.push(await openSession(await ensureModel(name, models), name, execution));
    }
  } catch (error) {
    await Promise.all(sessions.map((session) => session.release()));
    throw error;
  }
  return new FaceOccluder(model, sessions);
}
