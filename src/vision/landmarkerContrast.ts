import { clahe } from './clahe.js';
import { labToRgb, rgbToLab } from './labColour.js';
import type { RgbImage } from './rgbImage.js';

/** Mean lightness (OpenCV's 8-bit L, 0–255) under which the crop's lightness is equalised. */
const DARK_MEAN = 30;
const CLIP_LIMIT = 2;

/**
 * FaceFusion's conditional_optimize_contrast on a landmarker crop, in place: always through OpenCV's 8-bit
 * Lab and back (which moves most pixels by a level or so), and, where the mean lightness is under 30 of
 * 255, CLAHE on the lightness (clip limit 2, 8×8 tiles) in between. Pass the crop in the channel order
 * FaceFusion holds it (BGR): it converts with RGB2Lab whatever the order, so its lightness weighs blue as
 * red.
 */
export function optimizeContrast(crop: RgbImage): void {
  const { data, width, height } = crop;
  rgbToLab(data, data);
  const pixels = width * height;
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) sum += data[i];
  if (sum / pixels < DARK_MEAN) {
    const lightness = new Uint8Array(pixels);
    for (let i = 0; i < pixels; i++) lightness[i] = data[i * 3];
    const equalised = clahe(lightness, width, height, CLIP_LIMIT);
    for (let i = 0; i < pixels; i++) data[i * 3] = equalised[i];
  }
  labToRgb(data, data);
}
