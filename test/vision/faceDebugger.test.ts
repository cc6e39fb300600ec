import { afterEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { faceAngle } from '../../src/vision/faceAngle.js';
import type { AnalysedFace, Frame } from '../../src/vision/frame.js';
import { faceDebugger } from '../../src/vision/processors/face_debugger/descriptor.js';
import { debugScale, FaceDebuggerProcessor } from '../../src/vision/processors/face_debugger/faceDebugger.js';
import { LANDMARK_68_FRACTIONS } from '../fixtures/models.js';
import { useTempDir } from '../helpers/tempDir.js';
import {
  fakeShared,
  makeFrame,
  processorOptions,
  type Rgb,
  rgbToYuv,
  squareFace,
  yuvAt,
} from './processorHarness.js';

const dir = useTempDir();
let loaded: FaceDebuggerProcessor[] = [];
afterEach(async () => {
  await Promise.all(loaded.map((p) => p.dispose()));
  loaded = [];
});

const GREY: Rgb = [128, 128, 128];
const RED: Rgb = [255, 0, 0];
const LIGHT_RED: Rgb = [255, 100, 100];
const GREEN: Rgb = [0, 255, 0];
const CYAN: Rgb = [0, 255, 255];
const FACE = { x: 100, y: 60, size: 101 };

/** A grey 4:4:4 frame (every pixel its own chroma, so drawn colours are exact) with one square face. */
function frameWithFace(face: AnalysedFace = squareFace(FACE.x, FACE.y, FACE.size), height = 240): Frame {
  const frame = makeFrame(320, height, () => GREY, 'yuv444p');
  frame.faces = [face];
  return frame;
}

/** The frame after face_debugger drew `items` on it, the landmarker off (so 68 is fan_68_5's estimate). */
async function debug(
  items: string[],
  {
    frame = frameWithFace(),
    mask = {} as { types?: 'box'[]; padding?: [number, number, number, number] },
  } = {},
): Promise<Frame> {
  const options = await processorOptions(dir(), ['fan_68_5'], { debugger: { items }, mask });
  options.face.landmarkerScore = 0;
  const processor = new FaceDebuggerProcessor();
  loaded.push(processor);
  await processor.load(options, fakeShared());
  expect(await processor.process(frame)).toBe(frame);
  return frame;
}

/** Whether pixel (x, y) holds `rgb` (±1.5 on each of Y, U, V). */
function holds(frame: Frame, x: number, y: number, rgb: Rgb): boolean {
  const got = yuvAt(frame, x, y);
  return rgbToYuv(rgb).every((want, c) => Math.abs(got[c] - want) <= 1.5);
}

/** Every pixel of the frame that holds `rgb`, as "x,y". */
function pixelsOf(frame: Frame, rgb: Rgb): Set<string> {
  const found = new Set<string>();
  for (let y = 0; y < frame.height; y++)
    for (let x = 0; x < frame.width; x++) if (holds(frame, x, y, rgb)) found.add(`${x},${y}`);
  return found;
}

describe('face_debugger options', () => {
  it("has FaceFusion 3.8.1's default items and refuses unknown ones with their list", () => {
    expect(faceDebugger.options?.defaults).toEqual({ items: ['face-landmark-5/68', 'face-mask'] });
    expect(() => faceDebugger.check?.({ items: ['bounding-box', 'face-landmark-68/5'] })).not.toThrow();
    expect(() => faceDebugger.check?.({ items: ['age'] })).toThrow(UserError);
    expect(() => faceDebugger.check?.({ items: ['age'] })).toThrow(
      'unknown face debugger item "age" (available: bounding-box, face-landmark-5, face-landmark-5/68, face-landmark-68, face-landmark-68/5, face-mask)',
    );
  });

  it('opens fan_68_5 only for the items that need the points estimated from the 5', () => {
    expect(faceDebugger.models?.({ items: ['face-landmark-5', 'face-mask'] })).toEqual([]);
    expect(faceDebugger.models?.({ items: ['bounding-box'] })).toEqual(['fan_68_5']);
    expect(faceDebugger.models?.({ items: ['face-landmark-68/5'] })).toEqual(['fan_68_5']);
  });
});

describe('face_debugger drawing', () => {
  it('scales lines and points with the frame height as FaceFusion does (height / 270, ties to even, 1 to 10)', () => {
    expect([100, 240, 405, 675, 720, 1080, 2160, 4320].map(debugScale)).toEqual([1, 1, 2, 2, 3, 4, 8, 10]);
  });

  it("finds the face's angle from the jaw line's ends", () => {
    const upright = LANDMARK_68_FRACTIONS.map(([x, y]): [number, number] => [x * 100, y * 100]);
    expect(faceAngle(upright)).toBe(0);
    expect(faceAngle(upright.map(([x, y]): [number, number] => [-y, x]))).toBe(90);
    expect(faceAngle(upright.map(([x, y]): [number, number] => [-x, -y]))).toBe(180);
    expect(faceAngle(upright.map(([x, y]): [number, number] => [y, -x]))).toBe(270);
  });

  it('draws the bounding box in red, 1 pixel wide at 240 lines, its upright top in light red 2 pixels wide', async () => {
    const frame = await debug(['bounding-box']);
    const { x, y, size } = FACE;
    const [x2, y2] = [x + size, y + size];
    // Left, right and bottom edges: the 1-pixel lines, nothing either side.
    for (const yy of [y + 10, y + 50, y2 - 10]) {
      expect(holds(frame, x, yy, RED) && holds(frame, x2, yy, RED)).toBe(true);
      expect(holds(frame, x - 1, yy, GREY) && holds(frame, x + 1, yy, GREY)).toBe(true);
      expect(holds(frame, x2 - 1, yy, GREY) && holds(frame, x2 + 1, yy, GREY)).toBe(true);
    }
    for (const xx of [x + 10, x + 50]) {
      expect(holds(frame, xx, y2, RED)).toBe(true);
      expect(holds(frame, xx, y2 + 1, GREY) && holds(frame, xx, y2 - 1, GREY)).toBe(true);
      // Top: the face is upright (angle 0), so its top edge is marked, rows y − 1 to y + 1.
      for (const yy of [y - 1, y, y + 1]) expect(holds(frame, xx, yy, LIGHT_RED)).toBe(true);
      expect(holds(frame, xx, y - 2, GREY) && holds(frame, xx, y + 2, GREY)).toBe(true);
    }
    expect(holds(frame, x + 50, y + 50, GREY)).toBe(true);
    // Outline only: 4 edges of 101 px (top 3 rows), plus the top line's round caps, and nothing else.
    expect(pixelsOf(frame, RED).size + pixelsOf(frame, LIGHT_RED).size).toBeLessThan(4 * 103 + 2 * 103);
  });

  it("draws OpenCV's thick lines at 405 lines: ⌈t/2⌉ either side, round caps at the ends", async () => {
    const frame = await debug(['bounding-box'], { frame: frameWithFace(undefined, 405) });
    const { x, y, size } = FACE;
    const column = (xx: number, rgb: Rgb) =>
      [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((d) => (holds(frame, xx, y + d, rgb) ? '#' : '.')).join('');
    // The red box at thickness 2 (one row either side) lies under the light red top at thickness 3 (two).
    expect(column(x + 50, LIGHT_RED)).toBe('..#####..');
    const side = [-2, -1, 0, 1, 2].map((d) => (holds(frame, x + d, y + 50, RED) ? '#' : '.')).join('');
    expect(side).toBe('.###.');
    // The top's caps: OpenCV's filled circle of radius 2 at each end reaches 2 pixels past the corner.
    expect([x - 3, x - 2, x + size + 2, x + size + 3].map((xx) => holds(frame, xx, y, LIGHT_RED))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it('draws the 5 landmarks as filled points at their truncated positions, plus-shaped at radius 1', async () => {
    const face = squareFace(FACE.x, FACE.y, FACE.size);
    const frame = await debug(['face-landmark-5'], { frame: frameWithFace(face) });
    const expected = new Set<string>();
    for (const [px, py] of face.landmarks) {
      const [cx, cy] = [Math.trunc(px), Math.trunc(py)];
      for (const [dx, dy] of [
        [0, 0],
        [-1, 0],
        [1, 0],
        [0, -1],
        [0, 1],
      ])
        expected.add(`${cx + dx},${cy + dy}`);
    }
    expect(pixelsOf(frame, RED)).toEqual(expected);
  });

  it("draws OpenCV's filled circle of radius 2 at 405 lines", async () => {
    const face = squareFace(FACE.x, FACE.y, FACE.size);
    face.landmarks = [[150.7, 120.2]];
    const frame = await debug(['face-landmark-5'], { frame: frameWithFace(face, 405) });
    const rows = [-2, -1, 0, 1, 2].map((dy) =>
      [-2, -1, 0, 1, 2].map((dx) => (holds(frame, 150 + dx, 120 + dy, RED) ? '#' : '.')).join(''),
    );
    expect(rows).toEqual(['..#..', '.###.', '#####', '.###.', '..#..']);
  });

  it("colours the 5/68 points cyan when they are the detector's, green when the landmarker's replaced them", async () => {
    const face = squareFace(FACE.x, FACE.y, FACE.size);
    expect(pixelsOf(await debug(['face-landmark-5/68'], { frame: frameWithFace(face) }), CYAN).size).toBe(25);
    const refined = {
      ...face,
      detectorLandmarks: face.landmarks.map(([x, y]): [number, number] => [x + 3, y]),
    };
    const frame = await debug(['face-landmark-5/68', 'face-landmark-5'], { frame: frameWithFace(refined) });
    expect(pixelsOf(frame, GREEN).size).toBe(25);
    expect(pixelsOf(frame, RED).size).toBe(25);
  });

  it("draws fan_68_5's 68 points (68/5) in cyan, and as the 68 set when the landmarker is off", async () => {
    const frame = await debug(['face-landmark-68/5']);
    const drawn = pixelsOf(frame, CYAN);
    // The stand-in fan_68_5 gives the square's LANDMARK_68_FRACTIONS: each point's centre is drawn.
    for (const [fx, fy] of LANDMARK_68_FRACTIONS) {
      const px = Math.trunc(FACE.x + fx * FACE.size);
      const py = Math.trunc(FACE.y + fy * FACE.size);
      const near = [-1, 0, 1].some((d) => drawn.has(`${px + d},${py}`) || drawn.has(`${px},${py + d}`));
      expect(near, `point at ${px},${py}`).toBe(true);
    }
    expect(pixelsOf(await debug(['face-landmark-68']), CYAN)).toEqual(drawn);
  });

  it("outlines the box mask of the face's arcface crop, cyan for the detector's 5 points, inside left as it was", async () => {
    const frame = await debug(['face-mask'], { mask: { types: ['box'], padding: [0, 0, 0, 0] } });
    const outline = pixelsOf(frame, CYAN);
    expect(outline.size).toBeGreaterThan(200);
    const xs = [...outline].map((p) => Number(p.split(',')[0]));
    const ys = [...outline].map((p) => Number(p.split(',')[1]));
    // The arcface_128 crop of a face is wider than its box: the outline surrounds the face square.
    expect(Math.min(...xs)).toBeLessThan(FACE.x);
    expect(Math.max(...xs)).toBeGreaterThan(FACE.x + FACE.size);
    expect(Math.min(...ys)).toBeLessThan(FACE.y + 10);
    expect(holds(frame, FACE.x + 50, FACE.y + 50, GREY)).toBe(true);
    // A 1-pixel outline: every row crosses it at most a few times, never fills.
    const perRow = new Map<number, number>();
    for (const y of ys) perRow.set(y, (perRow.get(y) ?? 0) + 1);
    const middle = perRow.get(FACE.y + 50) ?? 0;
    expect(middle).toBeGreaterThanOrEqual(2);
    expect(middle).toBeLessThanOrEqual(4);
  });

  it('shrinks the outline with the mask padding, and draws nothing with no items', async () => {
    const plain = pixelsOf(
      await debug(['face-mask'], { mask: { types: ['box'], padding: [0, 0, 0, 0] } }),
      CYAN,
    );
    const padded = pixelsOf(
      await debug(['face-mask'], { mask: { types: ['box'], padding: [20, 20, 20, 20] } }),
      CYAN,
    );
    const width = (set: Set<string>) => {
      const xs = [...set].map((p) => Number(p.split(',')[0]));
      return Math.max(...xs) - Math.min(...xs);
    };
    expect(width(padded)).toBeLessThan(width(plain) * 0.8);
    const untouched = frameWithFace();
    const before = Buffer.from(untouched.data);
    expect((await debug([], { frame: untouched })).data.equals(before)).toBe(true);
  });
});
