import { expect, it } from 'vitest';
import { imageFormatOf, imageQualityArgs, scaledSize } from '../../src/media/imageFiles.js';

it("names FaceFusion's image formats by extension, in any case", () => {
  expect(['a.JPG', 'b.jpeg', 'c.png', 'd.webp', 'e.tif', 'f.bmp'].map(imageFormatOf)).toEqual([
    'jpeg',
    'jpeg',
    'png',
    'webp',
    'tiff',
    'bmp',
  ]);
  expect(['v.mp4', 'x.gif', 'noext'].map(imageFormatOf)).toEqual([undefined, undefined, undefined]);
});

it('maps --output-image-quality as FaceFusion does: webp as is, the others to a compression of 31 to 0', () => {
  expect(imageQualityArgs('jpeg', 80)).toEqual(['-q:v', '6']);
  expect(imageQualityArgs('jpeg', 0)).toEqual(['-q:v', '31']);
  expect(imageQualityArgs('png', 100)).toEqual(['-q:v', '0']);
  expect(imageQualityArgs('webp', 80)).toEqual(['-q:v', '80']);
});

it("scales a size as FaceFusion's scale_resolution: truncated, then rounded to even sides, halves to even", () => {
  expect(scaledSize(640, 360, 0.5)).toEqual({ width: 320, height: 180 });
  expect(scaledSize(853, 481, 1)).toEqual({ width: 852, height: 480 });
  // 75 × 1.25 = 93.75 → 93 → round(46.5) = 46 → 92; 101 → round(50.5) = 50 → 100; 75 → round(37.5) = 38 → 76.
  expect(scaledSize(101, 75, 1.25)).toEqual({ width: 126, height: 92 });
  expect(scaledSize(101, 75, 1)).toEqual({ width: 100, height: 76 });
});
