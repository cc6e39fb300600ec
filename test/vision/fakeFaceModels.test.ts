import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import type { Point } from '../../src/vision/detectors/detector.js';
import { loadFaceDetector } from '../../src/vision/detectors/registry.js';
import { type FaceAnalyser, loadFaceAnalyser } from '../../src/vision/faceAnalyser.js';
import { DEFAULT_EXECUTION, DEFAULT_FACE_OPTIONS, type FaceOptions } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { orderFaces } from '../../src/vision/selector.js';
import {
  DETECTOR_TOLERANCE,
  drawSquares,
  FACE_SCORE,
  FACE_SQUARE,
  LANDMARK_68_FRACTIONS,
  type RgbPicture,
  type Square,
  squareBox,
  squareLandmarks,
  writeModelSet,
} from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

function expectPoints(actual: readonly Point[], expected: readonly Point[], tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach(([x, y], i) => {
    expect(Math.abs(x - expected[i][0])).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(y - expected[i][1])).toBeLessThanOrEqual(tolerance);
  });
}

async function rawRgb(picture: RgbPicture, name: string): Promise<string[]> {
  const path = join(dir(), `${name}.rgb`);
  await writeFile(path, picture.data);
  return ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${picture.width}x${picture.height}`, '-i', path];
}

/** The picture as a yuv420p Frame (BT.601, limited range, as ffmpeg converts RGB). */
async function yuvFrame(picture: RgbPicture): Promise<Frame> {
  const args = ['-nostdin', '-v', 'error', ...(await rawRgb(picture, 'frame'))];
  args.push('-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1');
  const data = await runTool(resolveBinaries().ffmpeg, args, { failure: 'test frame' });
  return {
    index: 0,
    width: picture.width,
    height: picture.height,
    pixFmt: 'yuv420p',
    colour: { range: 'tv', space: 'bt470bg' },
    data,
  };
}

/** A lossless one-frame video of the picture. */
async function videoOf(picture: RgbPicture): Promise<string> {
  const path = join(dir(), 'reference.mp4');
  await ffmpeg([
    ...(await rawRgb(picture, 'reference')),
    '-c:v',
    'libx264',
    '-qp',
    '0',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
  return path;
}

/** Squares scaled ×k: a picture k times the detector's size puts them back on its grid. */
const scaled = (squares: Square[], k: number): Square[] =>
  squares.map((square) => ({ ...square, x: square.x * k, y: square.y * k, size: FACE_SQUARE * k }));

describe("face analysis through generated models with FaceFusion's signatures", () => {
  let models: ModelSettings;
  const analysers: FaceAnalyser[] = [];
  afterAll(() => Promise.all(analysers.map((analyser) => analyser.dispose())));

  beforeAll(async () => {
    const set = await writeModelSet(dir(), [
      'yoloface_8n',
      'retinaface_10g',
      '2dfan4',
      'fan_68_5',
      'arcface_w600k_r50',
    ]);
    models = await resolveModelSettings({ modelDir: join(dir(), 'models'), modelManifest: set.manifest }, {});
  });

  it.each(['yolo_face', 'retinaface'])('%s loads from the manifest and finds each square', async (model) => {
    const detector = await loadFaceDetector({ model, size: '640x640', minScore: 0.5 }, models);
    const squares = [
      { x: 64, y: 96 },
      { x: 320, y: 320, colour: [255, 0, 0] as const },
    ];
    const faces = orderFaces(await detector.detect(drawSquares(640, 640, squares)), 'left-right');
    await detector.dispose();
    expect(faces).toHaveLength(2);
    faces.forEach((found, i) => {
      const { x, y } = squares[i];
      expect(found.score).toBeCloseTo(FACE_SCORE, 4);
      expectPoints(
        [found.box.slice(0, 2), found.box.slice(2)] as Point[],
        [squareBox(x, y).slice(0, 2), squareBox(x, y).slice(2)] as Point[],
        DETECTOR_TOLERANCE,
      );
      expectPoints(found.landmarks, squareLandmarks(x, y), DETECTOR_TOLERANCE);
    });
  });

  it("FaceFusion's defaults (yolo_face, 2dfan4, reference mode): the reference square's colour only, with 68 points", async () => {
    // Frames twice the detector's size; a white face in the reference frame, a white and a red one later.
    const white = { x: 128, y: 192 };
    const red = { x: 384, y: 320, colour: [255, 0, 0] as const };
    const face: FaceOptions = { ...DEFAULT_FACE_OPTIONS, landmarker: '2dfan4' };
    const target = await videoOf(drawSquares(1280, 1280, scaled([{ x: 416, y: 64 }], 2)));
    const analyser = await loadFaceAnalyser({
      sources: [],
      target,
      face,
      execution: DEFAULT_EXECUTION,
      models,
    });
    analysers.push(analyser);
    const frame = await yuvFrame(drawSquares(1280, 1280, scaled([white, red], 2)));
    const selected = await analyser.selectFaces(frame);
    expect(selected).toHaveLength(1);
    const [found] = selected;
    // The box and points, found on the frame shrunk to 640, in frame pixels.
    const side = 2 * FACE_SQUARE;
    const [x, y] = [2 * white.x, 2 * white.y];
    expectPoints(
      [found.box.slice(0, 2), found.box.slice(2)] as Point[],
      [
        [x, y],
        [x + side, y + side],
      ],
      0.01,
    );
    expectPoints(found.landmarks, squareLandmarks(x, y, side), 0.01);
    expectPoints(
      found.landmarks68 ?? [],
      LANDMARK_68_FRACTIONS.map(([fx, fy]): Point => [x + fx * side, y + fy * side]),
      0.01,
    );
    expect(found.embedding?.vector).toHaveLength(512);
  });
});
