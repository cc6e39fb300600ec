import type { FaceMaskType } from './analysisOptions.js';
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

/** Opens the occluder when the mask types ask for it. */
export async function maybeOccluder(
  types: readonly FaceMaskType[],
  options: ProcessorOptions,
): Promise<FaceOccluder | undefined> {
  return types.includes('occlusion') ? loadFaceOccluder(options.models, options.execution) : undefined;
}
