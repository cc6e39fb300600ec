import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelSettings } from '../../src/models/settings.js';
import { FACE_SELECTOR_ORDERS } from '../../src/vision/analysisOptions.js';
import type { DetectedFace, FaceDetectorAngle, Point } from '../../src/vision/detectors/detector.js';
import { loadFaceDetector } from '../../src/vision/detectors/registry.js';
import { faceAngle } from '../../src/vision/faceAngle.js';
import { type Fan68From5, loadFan68From5 } from '../../src/vision/fan68.js';
import { loadImage } from '../../src/vision/image.js';
import { type FaceLandmarker, landmarks68to5, loadFaceLandmarker } from '../../src/vision/landmarker.js';
import {
  type Embedding,
  type FaceRecognizer,
  faceDistance,
  loadFaceRecognizer,
} from '../../src/vision/recognizer.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { faceAt, selectFaces } from '../../src/vision/selector.js';
import { drawSquares, writeModel } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { useTempDir } from '../helpers/tempDir.js';
import { turnedClockwise } from '../helpers/turnedImage.js';
import { PHOTOS, face as photo, TESTDATA, testdataMissing } from '../vision/testdata.js';
import {
  expectClose,
  type FaceFusionFace,
  forFaceFusion,
  ORACLE_TIMEOUT,
  runHarness,
  type SharedModel,
  sharedModels,
} from './oracleCases.js';

/**
 * FaceFusion 3.8.1's face analysis (test/oracle/harness/analyse_faces.py: get_many_faces and select_faces)
 * against spotfuse's detector, landmarker, recognizer and selector, on the same pixels and the same model
 * files: the real YuNet and SCRFD and MobileFaceNet (as the recognizer) on the ten real photos, and the
 * stand-ins on generated pictures.
 */

interface FaceFusionCase {
  faces: FaceFusionFace[];
  picked: number[];
}

interface SpotfuseFace extends DetectedFace {
  landmarkerScore: number;
  angle: number;
  landmarks5from68: Point[];
  landmarks68?: Point[];
  embedding: Embedding;
}

const dir = useTempDir();
const skip = oracleUnavailable() ?? testdataMissing;

/** The photos as PNG, so that both engines read the very same pixels (no two JPEG decoders agree). */
async function asPng(path: string, name: string): Promise<string> {
  const image = await loadImage(path);
  return writePng(image, name);
}

async function writePng(image: RgbImage, name: string): Promise<string> {
  const raw = join(dir(), `${name}.rgb`);
  await writeFile(raw, image.data);
  const png = join(dir(), `${name}.png`);
  const size = `${image.width}x${image.height}`;
  await ffmpeg(['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', size, '-i', raw, '-frames:v', '1', '-y', png]);
  return png;
}

class SpotfuseAnalysis {
  private constructor(
    private readonly models: ModelSettings,
    private readonly landmarker: FaceLandmarker,
    private readonly recognizer: FaceRecognizer,
    private readonly fan68: Fan68From5,
  ) {}

  static async load(models: ModelSettings): Promise<SpotfuseAnalysis> {
    return new SpotfuseAnalysis(
      models,
      await loadFaceLandmarker(models),
      await loadFaceRecognizer(models),
      await loadFan68From5(models),
    );
  }

  /**
   * Every face with what FaceFusion's create_faces computes: 68 points when the landmarker is on (from a crop
   * turned by the face's angle), 5/68, embedding, and the angle, which spotfuse estimates with fan_68_5 where
   * the landmarker needs it (0 otherwise).
   */
  async analyse(
    image: RgbImage,
    model: string,
    landmarkerScore: number,
    { angles = [0], minScore = 0.5 }: { angles?: FaceDetectorAngle[]; minScore?: number } = {},
  ): Promise<SpotfuseFace[]> {
    const detector = await loadFaceDetector({ model, size: '640x640', minScore, angles }, this.models);
    try {
      const faces: SpotfuseFace[] = [];
      for (const found of await detector.detect(image)) {
        const angle = landmarkerScore > 0 ? faceAngle(await this.fan68.estimate(found.landmarks)) : 0;
        const landmarks =
          landmarkerScore > 0 ? await this.landmarker.detect(image, found.box, angle) : undefined;
        const confident = landmarks !== undefined && landmarks.score > landmarkerScore;
        const landmarks5from68 = confident ? landmarks68to5(landmarks.points) : found.landmarks;
        faces.push({
          ...found,
          landmarkerScore: landmarks?.score ?? 0,
          angle,
          landmarks68: landmarks?.points,
          landmarks5from68,
          embedding: await this.recognizer.embed(image, landmarks5from68),
        });
      }
      return faces;
    } finally {
      await detector.dispose();
    }
  }
}

/**
 * Faces agree: box and landmarks within `pixels`, the same angle, scores and embeddings (cosine > 0.9999 at
 * 0.01) within `loose`'s or 0.01.
 */
function expectSameFaces(
  spotfuse: SpotfuseFace[],
  facefusion: FaceFusionFace[],
  pixels: number,
  what: string,
  loose: { score?: number; embedding?: number } = {},
) {
  const { score = 0.01, embedding = 0.01 } = loose;
  expect(spotfuse.length, `${what}: face count`).toBe(facefusion.length);
  spotfuse.forEach((face, i) => {
    const theirs = facefusion[i];
    const label = `${what}, face ${i}`;
    expectClose(face.box, theirs.box, pixels, `${label} box`);
    expectClose([face.score], [theirs.score], score, `${label} score`);
    expectClose(face.landmarks.flat(), theirs.landmarks5.flat(), pixels, `${label} 5 points`);
    expectClose(face.landmarks5from68.flat(), theirs.landmarks5from68.flat(), pixels, `${label} 5/68 points`);
    expectClose([face.landmarkerScore], [theirs.landmarkerScore], score, `${label} landmarker score`);
    expect(face.angle, `${label} angle`).toBe(theirs.angle);
    if (face.landmarks68)
      expectClose(face.landmarks68.flat(), theirs.landmarks68.flat(), pixels, `${label} 68 points`);
    const norm = Math.hypot(...theirs.embedding);
    expectClose([face.embedding.norm], [norm], norm * 0.01, `${label} embedding norm`);
    expectClose([...face.embedding.vector], theirs.embeddingNorm, embedding, `${label} embedding`);
  });
}

describe.skipIf(skip)(
  'face analysis: spotfuse vs FaceFusion 3.8.1 (real YuNet, SCRFD, MobileFaceNet)',
  () => {
    let oracle: Oracle;
    let models: ModelSettings;
    let analysis: SpotfuseAnalysis;
    const pngs: Record<string, string> = {};
    const images: Record<string, RgbImage> = {};

    beforeAll(async () => {
      const ffModels = join(dir(), 'ff-models');
      const real = (name: string) => join(TESTDATA, 'models', name);
      // FaceFusion needs a setup to run the renaming script in; its models are copied in again below.
      oracle = setUpOracle(join(dir(), 'ff'), await emptyModels());
      await forFaceFusion(oracle, real('scrfd_500m_bnkps.onnx'), join(dir(), 'scrfd_2.5g.onnx'), true);
      await forFaceFusion(oracle, real('mobilefacenet.onnx'), join(dir(), 'arcface_w600k_r50.onnx'));
      const shared: SharedModel[] = [
        { name: 'yunet_2023_mar', role: 'face_detector', path: real('face_detection_yunet_2023mar.onnx') },
        { name: 'scrfd_2.5g', role: 'face_detector', path: join(dir(), 'scrfd_2.5g.onnx') },
        { name: 'arcface_w600k_r50', role: 'face_recognizer', path: join(dir(), 'arcface_w600k_r50.onnx') },
        { name: '2dfan4', role: 'face_landmarker', path: await writeModel(join(dir(), 'fakes'), '2dfan4') },
        {
          name: 'fan_68_5',
          role: 'face_landmarker',
          path: await writeModel(join(dir(), 'fakes'), 'fan_68_5'),
        },
      ];
      models = await sharedModels(shared, dir(), ffModels);
      oracle = setUpOracle(join(dir(), 'ff'), ffModels);
      analysis = await SpotfuseAnalysis.load(models);
      for (const name of PHOTOS) {
        pngs[name] = await asPng(photo(name), name);
        images[name] = await loadImage(pngs[name]);
      }
    });

    async function emptyModels(): Promise<string> {
      const empty = join(dir(), 'no-models');
      await writeModel(empty, '2dfan4');
      return empty;
    }

    it(
      'the same faces on every photo, with each detector, with and without the landmarker',
      async () => {
        const configurations = ['yunet', 'scrfd'].flatMap((detector) =>
          [0, 0.5].map((landmarkerScore) => ({ detector, landmarkerScore })),
        );
        const cases = configurations.flatMap(({ detector, landmarkerScore }) =>
          PHOTOS.map((name) => ({
            target: pngs[name],
            args: ['--face-detector-model', detector, '--face-landmarker-score', String(landmarkerScore)],
          })),
        );
        const theirs = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
        let at = 0;
        for (const { detector, landmarkerScore } of configurations) {
          for (const name of PHOTOS) {
            const ours = await analysis.analyse(images[name], detector, landmarkerScore);
            expectSameFaces(
              ours,
              theirs[at++].faces,
              0.5,
              `${detector}, landmarker ${landmarkerScore}, ${name}`,
            );
          }
        }
      },
      ORACLE_TIMEOUT,
    );

    it(
      'the same faces, angles and 68 points on photos turned by a quarter, half and three quarters, with detector angles 0, 0 90, and all four',
      async () => {
        const photos = ['two_people.jpg', 'obama.jpg'];
        // Above the default 0.5: faces scored 0.50–0.55 (most of them upside down) are kept by one engine and not
        // the other, whose scores differ by up to 0.011 there.
        const MIN_SCORE = 0.6;
        const angleSets: FaceDetectorAngle[][] = [[0], [0, 90], [0, 90, 180, 270]];
        const turned: { name: string; png: string; image: RgbImage }[] = [];
        for (const name of photos) {
          for (const turn of [0, 90, 180, 270]) {
            const label = `${name} turned ${turn}°`;
            const png =
              turn === 0
                ? pngs[name]
                : await writePng(turnedClockwise(images[name], turn), `${name}-${turn}`);
            turned.push({ name: label, png, image: turn === 0 ? images[name] : await loadImage(png) });
          }
        }
        const configurations = ['yunet', 'scrfd'].flatMap((detector) =>
          angleSets.map((angles) => ({ detector, angles })),
        );
        const cases = configurations.flatMap(({ detector, angles }) =>
          turned.map(({ png }) => ({
            target: png,
            args: [
              ...['--face-detector-model', detector, '--face-detector-score', String(MIN_SCORE)],
              ...['--face-detector-angles', ...angles.map(String)],
            ],
          })),
        );
        const theirs = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
        let at = 0;
        let faces = 0;
        let turnedCrops = 0;
        for (const { detector, angles } of configurations) {
          for (const { name, image } of turned) {
            const ours = await analysis.analyse(image, detector, 0.5, { angles, minScore: MIN_SCORE });
            // FaceFusion shrinks the turned frame to 8-bit pixels before detecting: boxes may differ by a pixel,
            // which moves the stand-in 2dfan4's points with them and the embedding by up to 0.04.
            expectSameFaces(
              ours,
              theirs[at++].faces,
              1.5,
              `${detector}, angles ${angles.join(' ')}, ${name}`,
              {
                score: 0.02,
                embedding: 0.04,
              },
            );
            faces += ours.length;
            turnedCrops += ours.filter((face) => face.angle !== 0).length;
          }
        }
        // 54 faces, 32 of them lying (SCRFD finds some at angle 0 alone, and FaceFusion turns their crop too).
        expect(faces).toBeGreaterThan(48);
        expect(turnedCrops).toBeGreaterThan(28);
      },
      ORACLE_TIMEOUT,
    );

    it(
      'picks the same faces in every selector mode, order and reference position',
      async () => {
        const photos = ['dlib_2007_007763.jpg', 'two_people.jpg'];
        const selections = [
          ...FACE_SELECTOR_ORDERS.map((order) => ({ mode: 'many' as const, order, position: 0 })),
          ...(['left-right', 'best-worst'] as const).map((order) => ({
            mode: 'one' as const,
            order,
            position: 0,
          })),
          ...[0, 1, 3, 9].map((position) => ({
            mode: 'reference' as const,
            order: 'left-right' as const,
            position,
          })),
          { mode: 'reference' as const, order: 'small-large' as const, position: 2 },
        ];
        const base = ['--face-detector-model', 'yunet', '--face-landmarker-score', '0'];
        const cases = photos.flatMap((name) =>
          selections.map(({ mode, order, position }) => ({
            target: pngs[name],
            args: [...base, '--face-selector-mode', mode, '--face-selector-order', order].concat([
              '--reference-face-position',
              String(position),
            ]),
          })),
        );
        const theirs = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
        let at = 0;
        for (const name of photos) {
          const faces = await analysis.analyse(images[name], 'yunet', 0);
          for (const { mode, order, position } of selections) {
            const { faces: found, picked } = theirs[at++];
            expect(faces.length).toBe(found.length);
            const reference = faceAt(faces, order, position)?.embedding;
            const selector = { mode, order, referenceDistance: 0.3 };
            const ours = selectFaces(faces, selector, reference).map((face) => faces.indexOf(face));
            expect(ours, `${name}: ${mode} ${order} position ${position}`).toEqual(picked);
          }
          // Face distances between every two faces: FaceFusion's (1 − cos) / 2 of its embeddings.
          const theirFaces = theirs[at - 1].faces;
          for (const [i, a] of faces.entries()) {
            for (const [j, b] of faces.entries()) {
              const cos = theirFaces[i].embeddingNorm.reduce(
                (sum, v, k) => sum + v * theirFaces[j].embeddingNorm[k],
                0,
              );
              expect(Math.abs(faceDistance(a.embedding, b.embedding) - (1 - cos) / 2)).toBeLessThan(0.005);
            }
          }
        }
      },
      ORACLE_TIMEOUT,
    );
  },
);

/** A dark picture with bright squares where the stand-in detectors find faces (test/fixtures/models.ts). */
describe.skipIf(oracleUnavailable())('face analysis: spotfuse vs FaceFusion 3.8.1 (stand-in models)', () => {
  let oracle: Oracle;
  let analysis: SpotfuseAnalysis;

  beforeAll(async () => {
    const fakes = join(dir(), 'fakes-standin');
    const roles = {
      yoloface_8n: 'face_detector',
      'scrfd_2.5g': 'face_detector',
      retinaface_10g: 'face_detector',
      '2dfan4': 'face_landmarker',
      fan_68_5: 'face_landmarker',
      arcface_w600k_r50: 'face_recognizer',
      xseg_1: 'face_occluder',
    } as const;
    const shared: SharedModel[] = [];
    for (const [name, role] of Object.entries(roles)) {
      shared.push({ name, role, path: await writeModel(fakes, name as keyof typeof roles) });
    }
    const models = await sharedModels(shared, dir(), fakes);
    oracle = setUpOracle(join(dir(), 'ff-standin'), fakes);
    analysis = await SpotfuseAnalysis.load(models);
  });

  it(
    'the same faces, 68 points and embeddings with yolo_face, scrfd and retinaface',
    async () => {
      const picture = drawSquares(640, 480, [
        { x: 64, y: 96 },
        { x: 256, y: 64, size: 128, colour: [250, 120, 30] },
        { x: 448, y: 288, colour: [40, 255, 90] },
      ]);
      const png = await writePng(picture, 'squares');
      const image = await loadImage(png);
      const detectors = ['yolo_face', 'scrfd', 'retinaface'];
      const cases = detectors.map((detector) => ({ target: png, args: ['--face-detector-model', detector] }));
      const theirs = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
      for (const [i, detector] of detectors.entries()) {
        const ours = await analysis.analyse(image, detector, 0.5);
        expect(ours.length, detector).toBeGreaterThanOrEqual(3);
        expectSameFaces(ours, theirs[i].faces, 0.01, `${detector} on squares`);
      }
    },
    ORACLE_TIMEOUT,
  );

  it(
    'differs where FaceFusion drops a lone hit at anchor index 0 (a face at the top-left corner)',
    async () => {
      const png = await writePng(drawSquares(640, 480, [{ x: 0, y: 0 }]), 'corner');
      const cases = [{ target: png, args: ['--face-detector-model', 'scrfd'] }];
      const [theirs] = await runHarness<FaceFusionCase[]>(oracle, 'analyse_faces.py', cases, dir());
      expect(theirs.faces).toHaveLength(0);
      expect(await analysis.analyse(await loadImage(png), 'scrfd', 0.5)).toHaveLength(1);
    },
    ORACLE_TIMEOUT,
  );
});
