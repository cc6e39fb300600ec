import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import { DEFAULT_EXECUTION, faceOptionsOf } from '../../src/vision/faceOptions.js';
import { loadImage } from '../../src/vision/image.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { frameToRgb, rgbToFrame } from '../../src/vision/rgbFrame.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import type { FakeModelName } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHeadless, sharedStandIns } from './oracleCases.js';
import { texturedSquares, writePng } from './pictures.js';

/**
 * face_debugger against FaceFusion 3.8.1 on a PNG target. OpenCV's thick lines and contours are polygon
 * fills spotfuse does not copy pixel for pixel, so the pictures are compared by what is drawn, not by ±2:
 * each pixel either engine changed is classed by the nearest of the debugger's colours, and every drawn
 * pixel of one engine must have a pixel of the same colour class in the other within 1 pixel (all of
 * them for boxes and points, MASK_SHARE of them for mask outlines: the mask is warped back and
 * thresholded, so its outline may wander by a pixel where the warp's 1/32-pixel grid tips it), nearly
 * all drawn pixels are the same ones (SAME_PIXEL), and where both drew the same class the colours agree
 * within ±COLOUR.
 */

const dir = useTempDir();

const PALETTE: Record<string, readonly [number, number, number]> = {
  red: [255, 0, 0],
  'light red': [255, 100, 100],
  green: [0, 255, 0],
  cyan: [0, 255, 255],
};
const NAMES = Object.keys(PALETTE);
/** A pixel counts as drawn when a channel moved by more than this from the target. */
const DRAWN = 40;
const COLOUR = 3;
/** Measured with Debian's OpenCV 4.6: 1.0 (the outlines at 480 lines are drawn on the same pixels). */
const MASK_SHARE = 0.99;
/**
 * Pixels both drew in the same class, of those either drew; measured 0.991 to 1.0: fan_68_5's points
 * land a pixel apart where its estimate falls close to a whole pixel.
 */
const SAME_PIXEL = 0.98;

interface DebuggerCase {
  name: string;
  flags: string[];
  options: Record<string, unknown>;
  /** Draws a mask outline (compared with MASK_SHARE). */
  outline: boolean;
}

const CASES: DebuggerCase[] = [
  {
    name: 'bounding box, 5 and 68/5 points (landmarker on)',
    flags: ['--face-debugger-items', 'bounding-box', 'face-landmark-5', 'face-landmark-68/5'],
    options: { debugger: { items: ['bounding-box', 'face-landmark-5', 'face-landmark-68/5'] } },
    outline: false,
  },
  {
    name: "FaceFusion's default items (5/68 points, box mask outline), 68 points",
    flags: ['--face-debugger-items', 'face-landmark-5/68', 'face-mask', 'face-landmark-68'],
    options: { debugger: { items: ['face-landmark-5/68', 'face-mask', 'face-landmark-68'] } },
    outline: true,
  },
  {
    name: 'landmarker off (cyan sets), padded box mask',
    flags: [
      ...['--face-debugger-items', 'face-landmark-5/68', 'face-mask', 'face-landmark-68', 'bounding-box'],
      ...['--face-landmarker-score', '0', '--face-mask-padding', '10', '0', '20', '5'],
    ],
    options: {
      debugger: { items: ['face-landmark-5/68', 'face-mask', 'face-landmark-68', 'bounding-box'] },
      landmarkerScore: 0,
      mask: { padding: [10, 0, 20, 5] },
    },
    outline: true,
  },
];

const MODELS: FakeModelName[] = ['yoloface_8n', '2dfan4', 'fan_68_5', 'arcface_w600k_r50', 'fairface'];
MODELS.push('xseg_1', 'bisenet_resnet_34');

/** Each drawn pixel's colour class (index into NAMES), −1 where the target is unchanged. */
function drawnClasses(image: RgbImage, target: RgbImage): Int8Array {
  const classes = new Int8Array(image.width * image.height).fill(-1);
  for (let i = 0; i < classes.length; i++) {
    const pixel = image.data.subarray(i * 3, i * 3 + 3);
    const moved = [0, 1, 2].some((c) => Math.abs(pixel[c] - target.data[i * 3 + c]) > DRAWN);
    if (!moved) continue;
    let best = 0;
    let bestDistance = Number.POSITIVE_INFINITY;
    NAMES.forEach((name, k) => {
      const distance = PALETTE[name].reduce((sum, v, c) => sum + (v - pixel[c]) ** 2, 0);
      if (distance < bestDistance) [best, bestDistance] = [k, distance];
    });
    classes[i] = best;
  }
  return classes;
}

/** The share of `from`'s drawn pixels that `to` drew in the same class within 1 pixel, and how many were drawn. */
function matchedShare(from: Int8Array, to: Int8Array, width: number): { share: number; drawn: number } {
  const height = from.length / width;
  let drawn = 0;
  let matched = 0;
  for (let i = 0; i < from.length; i++) {
    if (from[i] < 0) continue;
    drawn++;
    const x = i % width;
    const y = Math.floor(i / width);
    let found = false;
    for (let dy = -1; dy <= 1 && !found; dy++)
      for (let dx = -1; dx <= 1 && !found; dx++) {
        const nx = x + dx;
        const ny = y + dy;
        found = nx >= 0 && ny >= 0 && nx < width && ny < height && to[ny * width + nx] === from[i];
      }
    if (found) matched++;
  }
  return { share: drawn === 0 ? 1 : matched / drawn, drawn };
}

/**
 * The share of drawn pixels both engines drew in the same class, and the largest channel difference
 * between the two pictures at those pixels.
 */
function samePixels(ours: RgbImage, theirs: RgbImage, ourClasses: Int8Array, theirClasses: Int8Array) {
  let worst = 0;
  let both = 0;
  let either = 0;
  for (let p = 0; p < ourClasses.length; p++) {
    if (ourClasses[p] >= 0 || theirClasses[p] >= 0) either++;
    if (ourClasses[p] < 0 || ourClasses[p] !== theirClasses[p]) continue;
    both++;
    for (let c = 0; c < 3; c++)
      worst = Math.max(worst, Math.abs(ours.data[p * 3 + c] - theirs.data[p * 3 + c]));
  }
  return { share: either === 0 ? 1 : both / either, worst };
}

describe.skipIf(oracleUnavailable())('face_debugger: spotfuse vs FaceFusion 3.8.1 on a PNG target', () => {
  let models: ModelSettings;
  let target: string;
  let targetImage: RgbImage;
  const theirs: RgbImage[] = [];

  beforeAll(async () => {
    const standIns = await sharedStandIns(MODELS, dir());
    const fakes = standIns.fakes;
    models = standIns.models;
    const oracle: Oracle = setUpOracle(join(dir(), 'ff'), fakes);
    // Two faces at 480 lines (lines 2 pixels wide, points of radius 2), one touching the top edge.
    targetImage = texturedSquares(640, 480, [
      { x: 80, y: 120, seed: 1 },
      { x: 352, y: 0, size: 128, seed: 2 },
    ]);
    target = await writePng(targetImage, join(dir(), 'target'));
    await runHeadless(
      oracle,
      CASES.map((c, i) => [
        ...['-t', target, '-o', join(dir(), `ff-${i}.png`), '--execution-providers', 'cpu'],
        ...['--face-selector-mode', 'many', '--processors', 'face_debugger', ...c.flags],
      ]),
      dir(),
    );
    for (const i of CASES.keys()) theirs.push(await loadImage(join(dir(), `ff-${i}.png`)));
  }, ORACLE_TIMEOUT);

  for (const [i, c] of CASES.entries()) {
    it(`${c.name}: the same colours drawn at the same places (±1 pixel)`, async () => {
      const chain = await ProcessorChain.load(['face_debugger'], {
        sources: [],
        target,
        face: faceOptionsOf({ ...c.options, selector: { mode: 'many' } }),
        execution: DEFAULT_EXECUTION,
        models,
      });
      let ours: RgbImage;
      try {
        ours = frameToRgb(await chain.process(rgbToFrame(targetImage)));
      } finally {
        await chain.dispose();
      }
      const ourClasses = drawnClasses(ours, targetImage);
      const theirClasses = drawnClasses(theirs[i], targetImage);
      const needed = c.outline ? MASK_SHARE : 1;
      const oursInTheirs = matchedShare(ourClasses, theirClasses, ours.width);
      const theirsInOurs = matchedShare(theirClasses, ourClasses, ours.width);
      expect(theirsInOurs.drawn, 'FaceFusion drew').toBeGreaterThan(100);
      expect(oursInTheirs.share, "share of spotfuse's drawn pixels FaceFusion drew").toBeGreaterThanOrEqual(
        needed,
      );
      expect(theirsInOurs.share, "share of FaceFusion's drawn pixels spotfuse drew").toBeGreaterThanOrEqual(
        needed,
      );
      for (const k of NAMES.keys()) {
        const count = (classes: Int8Array) => classes.filter((v) => v === k).length;
        expect(count(ourClasses) > 0, `${NAMES[k]} drawn`).toBe(count(theirClasses) > 0);
      }
      const same = samePixels(ours, theirs[i], ourClasses, theirClasses);
      expect(same.share, 'pixels both drew in the same class, of those either drew').toBeGreaterThanOrEqual(
        SAME_PIXEL,
      );
      expect(same.worst, 'colour difference where both drew the same class').toBeLessThanOrEqual(COLOUR);
    });
  }
});
