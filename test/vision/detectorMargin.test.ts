import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import type { FaceDetectorMargin } from '../../src/vision/detectors/detector.js';
import { marginPixels, sizeInsideMargin, withMargin } from '../../src/vision/detectors/margin.js';
import { loadFaceDetector } from '../../src/vision/detectors/registry.js';
import { loadImage } from '../../src/vision/image.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { useTempDir } from '../helpers/tempDir.js';
import { bundledMissing, face, testdataModels } from './testdata.js';

const dir = useTempDir();

describe('detector margin', () => {
  it("takes each side's pixels as FaceFusion's prepare_margin: 0–100 onto 0–0.5 of the side, rounded down", () => {
    // int(481 * 0.05), int(641 * 0.165), int(481 * 0.25), int(641 * 0.5).
    expect(marginPixels([10, 33, 50, 100], 641, 481)).toEqual({
      top: 24,
      right: 105,
      bottom: 120,
      left: 320,
    });
    expect(marginPixels([0, 0, 0, 0], 641, 481)).toEqual({ top: 0, right: 0, bottom: 0, left: 0 });
  });

  it('pads the picture with black on each side and keeps it whole inside', () => {
    const image: RgbImage = { width: 4, height: 2, data: Uint8Array.from({ length: 24 }, (_, i) => i + 1) };
    const { image: framed, pixels } = withMargin(image, [50, 25, 100, 50]);
    expect(pixels).toEqual({ top: 0, right: 0, bottom: 1, left: 1 });
    expect([framed.width, framed.height]).toEqual([5, 3]);
    const row = (y: number) => [...framed.data.subarray(y * 15, (y + 1) * 15)];
    expect(row(0)).toEqual([0, 0, 0, ...image.data.subarray(0, 12)]);
    expect(row(1)).toEqual([0, 0, 0, ...image.data.subarray(12, 24)]);
    expect(row(2)).toEqual(Array(15).fill(0));
  });

  it("shrinks video frames into the detector's size less the margin, so that the two together fit it", () => {
    expect(sizeInsideMargin({ width: 640, height: 640 }, [0, 0, 0, 0])).toEqual({ width: 640, height: 640 });
    const inside = sizeInsideMargin({ width: 640, height: 640 }, [10, 20, 30, 40]);
    expect(inside.width).toBeCloseTo(640 / 1.3, 9);
    expect(inside.height).toBeCloseTo(640 / 1.2, 9);
  });
});

describe.skipIf(bundledMissing)('YuNet with a margin, on the bundled photo', () => {
  let models: ModelSettings;
  let photo: RgbImage;

  beforeAll(async () => {
    models = await testdataModels(dir());
    photo = await loadImage(face('astronaut.png'));
  });

  const detect = async (image: RgbImage, margin?: FaceDetectorMargin) => {
    const detector = await loadFaceDetector(
      { model: 'yunet', size: '640x640', minScore: 0.5, margin },
      models,
    );
    try {
      return await detector.detect(image);
    } finally {
      await detector.dispose();
    }
  };

  it('finds in the photo with a margin what it finds in the photo padded beforehand, moved back inside', async () => {
    const margin: FaceDetectorMargin = [5, 10, 15, 20];
    const framed = withMargin(photo, margin);
    const inPadded = await detect(framed.image);
    const withItsMargin = await detect(photo, margin);
    expect(inPadded.length).toBeGreaterThan(0);
    expect(withItsMargin).toHaveLength(inPadded.length);
    withItsMargin.forEach((found, i) => {
      const { left, top } = framed.pixels;
      const [x1, y1, x2, y2] = inPadded[i].box;
      expect(found.box).toEqual([x1 - left, y1 - top, x2 - left, y2 - top]);
      expect(found.score).toBe(inPadded[i].score);
      expect(found.landmarks).toEqual(inPadded[i].landmarks.map(([x, y]) => [x - left, y - top]));
    });
    // A margin of 0 on every side is none at all.
    expect(await detect(photo, [0, 0, 0, 0])).toEqual(await detect(photo));
  });

  it('refuses a margin that is not 4 whole percentages from 0 to 100', async () => {
    for (const margin of [
      [0, 0, 0, 101],
      [0, 0, 2.5, 0],
      [10, 10],
    ]) {
      await expect(
        loadFaceDetector({ model: 'yunet', size: '640x640', minScore: 0.5, margin: margin as never }, models),
      ).rejects.toThrow(/4 whole percentages from 0 to 100/);
    }
  });
});
