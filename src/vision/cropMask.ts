import type { FaceAnalysisOptions, FaceMaskType } from './analysisOptions.js';
import { areaMask } from './areaMask.js';
import type { Point } from './detectors/detector.js';
import { type FaceParser, loadFaceParser } from './faceParser.js';
import { type Affine, applyAffine } from './geometry.js';
import { combineMasks } from './masks.js';
import { type FaceOccluder, loadFaceOccluder } from './occluder.js';
import type { ProcessorOptions } from './processorOptions.js';
import type { RgbImage } from './rgbImage.js';

/**
 * The crop mask of `--face-mask-types`: the box mask and/or the occlusion mask, combined by
 * elementwise minimum; all ones when no type is chosen.
 */
export async function cropMask(
  crop: RgbImage,
  box: Float32Array | undefined,
  occluder: FaceOccluder | undefined,
): Promise<Float32Array> {
  const masks: Float32Array[] = [];
  if (box) masks.push(box);
  if (occluder) masks.push(await occluder.mask(crop));
  if (masks.length === 0) return new Float32Array(crop.width * crop.height).fill(1);
  return masks.length === 1 ? masks[0] : combineMasks(masks);
}

/** Opens the occluder of `--face-occluder-model` when the mask types ask for it. */
export async function maybeOccluder(
  types: readonly FaceMaskType[],
  options: ProcessorOptions,
): Promise<FaceOccluder | undefined> {
  if (!types.includes('occlusion')) return undefined;
  return loadFaceOccluder(options.models, options.execution, options.face.mask.occluder);
}

/**
 * The masks face_swapper takes from the swapped crop, as FaceFusion's swap_face does after the swap: the
 * `area` mask (the face's 68 landmarks carried into the crop) and the `region` mask (the face parser on
 * the swapped face), combined with the mask of the original crop (box, occlusion) by elementwise minimum.
 */
export class SwappedFaceMasks {
  private constructor(
    private readonly mask: FaceAnalysisOptions['mask'],
    private readonly parser: FaceParser | undefined,
  ) {}

  static async load(options: ProcessorOptions): Promise<SwappedFaceMasks> {
    const { mask } = options.face;
    const parser = mask.types.includes('region')
      ? await loadFaceParser(mask.parser, mask.regions, options.models, options.execution)
      : undefined;
    return new SwappedFaceMasks(mask, parser);
  }

  /**
   * `before` (the original crop's mask) with the area and region masks of `swapped` added; `before` as it
   * is when neither is asked for. `landmarks68` are the face's points in frame pixels, `matrix` frame → crop.
   */
  async combine(
    before: Float32Array,
    swapped: RgbImage,
    matrix: Affine,
    landmarks68: readonly Point[] | undefined,
  ): Promise<Float32Array> {
    const masks = [before];
    if (this.mask.types.includes('area')) {
      if (!landmarks68) throw new Error("the area mask needs the face's 68 landmarks");
      const inCrop = landmarks68.map((point) => applyAffine(matrix, point));
      masks.push(areaMask(swapped.width, inCrop, this.mask.areas));
    }
    if (this.parser) masks.push(await this.parser.mask(swapped));
    return masks.length === 1 ? before : combineMasks(masks);
  }

  async dispose(): Promise<void> {
    await this.parser?.dispose();
  }
}
