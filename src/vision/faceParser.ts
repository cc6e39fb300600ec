import type { EnsureOptions } from '../models/download.js';
import { ensureModel } from '../models/download.js';
import type { FaceMaskRegion, FaceParserModel } from './analysisOptions.js';
import { DEFAULT_EXECUTION, type ExecutionOptions } from './execution.js';
import { smoothModelMask } from './masks.js';
import { type InferenceSession, openSession, runSession } from './onnx.js';
import { resizeBilinear, resizeBilinearBytes } from './resample.js';
import type { RgbImage } from './rgbImage.js';

/** bisenet's input and output side (face_masker.py: bisenet_resnet_18/34 at 512×512). */
const SIZE = 512;
/** ImageNet normalisation of RGB on 0–1. */
const MEAN = [0.485, 0.456, 0.406] as const;
const STD = [0.229, 0.224, 0.225] as const;

/** The parser's class of each region (FaceFusion's face_mask_region_set; CelebAMask-HQ's label order). */
export const REGION_CLASSES: Record<FaceMaskRegion, number> = {
  skin: 1,
  'left-eyebrow': 2,
  'right-eyebrow': 3,
  'left-eye': 4,
  'right-eye': 5,
  glasses: 6,
  nose: 10,
  mouth: 11,
  'upper-lip': 12,
  'lower-lip': 13,
};

/**
 * 1 where the class with the highest score (the first of equal ones, as numpy's argmax) is one of
 * `classes`, 0 elsewhere: `scores` holds `classCount` planes of `area` values.
 */
export function classMask(
  scores: Float32Array,
  classCount: number,
  area: number,
  classes: ReadonlySet<number>,
): Float32Array {
  if (scores.length !== classCount * area) {
    throw new RangeError(`face parser gave ${scores.length} values, expected ${classCount}×${area}`);
  }
  const mask = new Float32Array(area);
  for (let i = 0; i < area; i++) {
    let best = 0;
    let bestScore = scores[i];
    for (let c = 1; c < classCount; c++) {
      const score = scores[c * area + i];
      if (score > bestScore) {
        bestScore = score;
        best = c;
      }
    }
    if (classes.has(best)) mask[i] = 1;
  }
  return mask;
}

/**
 * FaceFusion's region mask (face_masker.create_region_mask): the crop resized to 512×512, RGB on 0–1
 * with ImageNet normalisation, NCHW; the parser's per-pixel class scores (1×C×512×512) give 1 where the
 * winning class is one of the chosen regions; that mask is resized back to the crop and smoothed (σ 5
 * blur, clip to 0.5–1, rescaled to 0–1).
 */
export class FaceParser {
  private readonly input = new Float32Array(3 * SIZE * SIZE);
  private readonly resized = new Uint8Array(SIZE * SIZE * 3);
  private readonly classes: ReadonlySet<number>;

  constructor(
    readonly name: string,
    private readonly session: InferenceSession,
    regions: readonly FaceMaskRegion[],
  ) {
    this.classes = new Set(regions.map((region) => REGION_CLASSES[region]));
  }

  /** The mask of a square crop: crop.width² values, 0 (outside the regions) to 1 (inside). */
  async mask(crop: RgbImage): Promise<Float32Array> {
    const { width, height } = crop;
    if (width !== height) throw new RangeError(`region masks take square crops, not ${width}x${height}`);
    resizeBilinearBytes(crop.data, width, height, 3, SIZE, SIZE, this.resized);
    const { input, resized } = this;
    const area = SIZE * SIZE;
    for (let i = 0; i < area; i++) {
      for (let c = 0; c < 3; c++) input[c * area + i] = (resized[i * 3 + c] / 255 - MEAN[c]) / STD[c];
    }
    const [scores] = await runSession(this.session, input, [1, 3, SIZE, SIZE]);
    const parsed = classMask(scores, scores.length / area, area, this.classes);
    const mask = new Float32Array(width * width);
    resizeBilinear(parsed, SIZE, SIZE, 1, width, width, mask);
    return smoothModelMask(mask, width);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Fetches (if needed) and opens the face parser that parses these regions. */
export async function loadFaceParser(
  model: FaceParserModel,
  regions: readonly FaceMaskRegion[],
  models: EnsureOptions,
  execution: ExecutionOptions = DEFAULT_EXECUTION,
): Promise<FaceParser> {
  const path = await ensureModel(model, models);
  return new FaceParser(model, await openSession(path, model, execution), regions);
}
