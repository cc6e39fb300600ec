import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveModelSettings } from '../../src/models/settings.js';
import type { FaceDetector, FaceDetectorAngle } from '../../src/vision/detectors/detector.js';
import { nmsThreshold } from '../../src/vision/detectors/nms.js';
import { loadFaceDetector } from '../../src/vision/detectors/registry.js';
import { turnImage } from '../../src/vision/detectors/rotation.js';
import { faceAngle } from '../../src/vision/faceAngle.js';
import { requiredModels } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { applyAffine } from '../../src/vision/geometry.js';
import { loadImage } from '../../src/vision/image.js';
import { landmarkerMatrix } from '../../src/vision/landmarker.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { useTempDir } from '../helpers/tempDir.js';
import { turnedClockwise } from '../helpers/turnedImage.js';
import { bundledMissing, face, testdataModels } from './testdata.js';

const dir = useTempDir();

describe('detector angles', () => {
  it("lowers the NMS overlap with the number of angles, as FaceFusion's get_nms_threshold", () => {
    expect([1, 2, 3, 4].map(nmsThreshold)).toEqual([0.4, 0.3, 0.2, 0.1]);
    expect(nmsThreshold(5)).toBe(0.4);
  });

  it("turns a picture as cv2.warpAffine does through FaceFusion's matrix: whole pixels, a black edge", () => {
    // 3×2 pixels, each channel holding its pixel's number + 1.
    const image: RgbImage = {
      width: 3,
      height: 2,
      data: Uint8Array.from({ length: 18 }, (_, i) => 1 + Math.floor(i / 3)),
    };
    const pixel = (picture: RgbImage, x: number, y: number) => picture.data[(y * picture.width + x) * 3];
    const { image: turned, back } = turnImage(image, 90);
    expect([turned.width, turned.height]).toEqual([2, 3]);
    // Counter-clockwise: the top row is what lay past the right edge (black), then columns 2 and 1 upwards.
    expect([0, 1, 2].map((y) => [pixel(turned, 0, y), pixel(turned, 1, y)])).toEqual([
      [0, 0],
      [pixel(image, 2, 0), pixel(image, 2, 1)],
      [pixel(image, 1, 0), pixel(image, 1, 1)],
    ]);
    expect(applyAffine(back, [1, 2])).toEqual([1, 1].map((v, i) => expect.closeTo(i === 0 ? 1 : v, 9)));
    const half = turnImage(image, 180).image;
    expect([pixel(half, 0, 0), pixel(half, 1, 1), pixel(half, 2, 1)]).toEqual([
      0,
      pixel(image, 2, 1),
      pixel(image, 1, 1),
    ]);
  });

  it("turns the landmarker's crop about its centre by the face's angle", () => {
    const box: [number, number, number, number] = [100, 50, 200, 150];
    const matrix = landmarkerMatrix(box, 90);
    const centre = applyAffine(matrix, [150, 100]);
    expect(centre.map((v) => Math.round(v * 1e9) / 1e9)).toEqual([128, 128]);
    // Counter-clockwise: the box's right edge comes to the crop's top.
    const right = applyAffine(matrix, [200, 100]);
    expect(right[0]).toBeCloseTo(128, 9);
    expect(right[1]).toBeCloseTo(128 - 97.5, 9);
    expect(landmarkerMatrix(box, 0)).toEqual(landmarkerMatrix(box));
  });

  it('takes the angle halfway between two to the smaller, as numpy.argmin', () => {
    const jaw = (dx: number, dy: number) =>
      [[0, 0], ...Array(15).fill([0, 0]), [dx, dy]] as [number, number][];
    expect(faceAngle(jaw(1, 1))).toBe(0);
    expect(faceAngle(jaw(1, 1.0001))).toBe(90);
    expect(faceAngle(jaw(1, -0.9999))).toBe(0);
    expect(faceAngle(jaw(1, -1.0001))).toBe(270);
  });

  it('opens fan_68_5 wherever the landmarker runs, for the angle its crop turns by', async () => {
    const { catalog } = await resolveModelSettings({ modelDir: join(dir(), 'catalog') }, {});
    const needs = (angles: FaceDetectorAngle[], landmarkerScore = 0.5) =>
      requiredModels(
        ['face_swapper'],
        { ...DEFAULT_FACE_OPTIONS, detector: { ...DEFAULT_FACE_OPTIONS.detector, angles }, landmarkerScore },
        catalog,
      );
    expect(needs([0])).toContain('fan_68_5');
    expect(needs([0, 90])).toContain('fan_68_5');
    expect(needs([0, 90], 0)).not.toContain('fan_68_5');
  });
});

/**
 * At 0.5 YuNet also finds the lying face at angle 0 (score 0.71, its 5 points drawn upright across it); at
 * 0.8 only the angle that stands it upright finds it (0.86, upright 0.87).
 */
describe.skipIf(bundledMissing)('YuNet on the bundled photo, turned', () => {
  const detectors = new Map<string, FaceDetector>();
  let upright: RgbImage;

  const detector = (angles: FaceDetectorAngle[]) => detectors.get(angles.join(' '))!;

  beforeAll(async () => {
    const models = await testdataModels(dir());
    for (const angles of [[0], [90], [180], [270], [0, 90, 180, 270]] as FaceDetectorAngle[][]) {
      detectors.set(
        angles.join(' '),
        await loadFaceDetector({ model: 'yunet', size: '640x640', minScore: 0.8, angles }, models),
      );
    }
    upright = await loadImage(face('astronaut.png'));
  });
  afterAll(() => Promise.all([...detectors.values()].map((d) => d.dispose())));

  for (const turn of [90, 180, 270] as const) {
    it(`finds the face turned ${turn}° clockwise only at angle ${turn}, where it stands upright`, async () => {
      const image = turnedClockwise(upright, turn);
      const [uprightFace] = await detector([0]).detect(upright);
      for (const angle of [0, 90, 180, 270] as const) {
        expect((await detector([angle]).detect(image)).length, `angle ${angle}`).toBe(angle === turn ? 1 : 0);
      }
      const [found, ...others] = await detector([0, 90, 180, 270]).detect(image);
      expect(others).toHaveLength(0);
      // Where the upright face's points are in the turned photo. Turned back by FaceFusion's matrix, the photo is
      // the upright one a pixel lower (its turn is half a pixel off centre), which moves YuNet's points by up
      // to 3 px.
      const place = (points: [number, number][]) =>
        points.map(([x, y]) => {
          let point: [number, number] = [x, y];
          let { width, height } = upright;
          for (let t = 0; t < turn / 90; t++) {
            point = [height - 1 - point[1], point[0]];
            [width, height] = [height, width];
          }
          return point;
        });
      const expected = place(uprightFace.landmarks);
      found.landmarks.forEach(([x, y], i) => {
        expect(Math.hypot(x - expected[i][0], y - expected[i][1]), `point ${i}`).toBeLessThan(4);
      });
      expect(found.score).toBeCloseTo(uprightFace.score, 1);
      expect(faceAngle([found.landmarks[0], ...Array(15).fill([0, 0]), found.landmarks[1]])).toBe(turn);
    });
  }
});
