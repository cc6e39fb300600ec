import type { EnsureOptions } from '../models/download.js';
import { ensureModel } from '../models/download.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { smoothModelMask } from './masks.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import { resizeBilinear } from './resample.js';
import type { RgbImage } from './rgbImage.js';

/** FaceFusion's default `--face-occluder-model`. */
export const OCCLUDER_MODEL = 'xseg_1';
/** xseg's input and output side (face_masker.py: xseg_1/2/3 at 256×256). */
const SIZE = 256;

/**
 * FaceFusion's occlusion mask (face_masker.create_occlusion_mask): the crop resized to 256×256,
 * fed NHWC in BGR order (FaceFusion's frames are BGR and it does not flip them here) on 0–1; the
 * output (1×256×256×1, 1 = face visible) clipped to 0–1, resized back to the crop, then smoothed
 * (σ 5 blur, clip to 0.5–1, rescaled to 0–1).
 */
export class FaceOccluder {
  private readonly input = new Float32Array(SIZE * SIZE * 3);
  private readonly resized = new Uint8Array(SIZE * SIZE * 3);

  constructor(
    readonly name: string,
    private readonly session: InferenceSession,
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
    const [output] = await runSession(this.session, input, [1, SIZE, SIZE, 3]);
    const clipped = new Float32Array(SIZE * SIZE);
    for (let i = 0; i < clipped.length; i++) {
      const v = output[i];
      clipped[i] = v < 0 ? 0 : Math.min(v, 1);
    }
    const mask = new Float32Array(width * width);
    resizeBilinear(clipped, SIZE, SIZE, 1, width, width, mask);
    return smoothModelMask(mask, width);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Fetches (if needed) and opens the occluder model. */
export async function loadFaceOccluder(
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceOccluder> {
  const path = await ensureModel(OCCLUDER_MODEL, models);
  return new FaceOccluder(OCCLUDER_MODEL, await openSession(path, OCCLUDER_MODEL, execution));
}
