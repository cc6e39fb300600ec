import type { RgbImage } from '../../src/vision/rgbImage.js';

/**
 * `image` turned clockwise by `degrees` (a multiple of 90), pixel for pixel: a test's own lying faces, made
 * from upright photos without FaceFusion's or spotfuse's turning code.
 */
export function turnedClockwise(image: RgbImage, degrees: number): RgbImage {
  let turned = image;
  for (let turn = 0; turn < degrees / 90; turn++) turned = quarterTurnClockwise(turned);
  return turned;
}

function quarterTurnClockwise(image: RgbImage): RgbImage {
  const { width, height } = image;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < width; y++) {
    for (let x = 0; x < height; x++) {
      const from = ((height - 1 - x) * width + y) * 3;
      data.set(image.data.subarray(from, from + 3), (y * height + x) * 3);
    }
  }
  return { width: height, height: width, data };
}
