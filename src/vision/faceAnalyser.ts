import { UserError } from '../core/errors.js';
import { imageFormatOf } from '../media/imageFiles.js';
import { inputName } from '../media/inputName.js';
import { alignFace } from './alignment.js';
import { CLASSIFIER_CROP, type FaceClass, type FaceClassifier, loadFaceClassifier } from './classifier.js';
import type { DetectedFace, FaceDetector, Point, Size } from './detectors/detector.js';
import { sizeInsideMargin } from './detectors/margin.js';
import { detectorSpec, loadFaceDetector, parseDetectorSize } from './detectors/registry.js';
import { faceAngle } from './faceAngle.js';
import { type Fan68From5, loadFan68From5 } from './fan68.js';
import type { AnalysedFace, Frame } from './frame.js';
import { alignFromFrame, frameToRgbScaled, warpFrameRegion } from './frameImage.js';
import type { Affine } from './geometry.js';
import {
  type FaceLandmarker,
  LANDMARKER_SIZE,
  landmarkerMatrix,
  landmarks68to5,
  loadFaceLandmarker,
} from './landmarker.js';
import { decodePictures, type PictureReader } from './pictureReader.js';
import type { ProcessorOptions } from './processorOptions.js';
import { type Embedding, type FaceRecognizer, loadFaceRecognizer } from './recognizer.js';
import type { RgbImage } from './rgbImage.js';
import {
  type FaceFilters,
  faceAt,
  faceFilters,
  filtersFaces,
  largestFace,
  orderFaces,
  selectFaces,
} from './selector.js';
import type { WarpTemplate } from './templates.js';
import { warpAffine } from './warp.js';

/** The source identity: averaged over the `-s` images as FaceFusion does. */
export interface SourceFace {
  /** Mean of the raw (unnormalised) embeddings: inswapper's input before its emap. */
  raw: Float32Array;
  /** Mean of the L2-normalised embeddings: hyperswap's input. */
  normed: Float32Array;
  /** The first `-s` image: blendswap and uniface take the face's pixels, not its embedding. */
  image: RgbImage;
  /** The 5 landmarks of that image's face (the landmarker's when it is confident). */
  landmarks: Point[];
}

/** Every face found in a frame, and those of them the selector picks (the same objects). */
export interface FrameFaces {
  detected: AnalysedFace[];
  selected: ReadonlySet<AnalysedFace>;
}

/** Detector, optional landmarker, recognizer and selector, loaded once per worker and job. */
export interface FaceAnalyser {
  /**
   * The faces of `frame` the processors should touch (after the selector), computed on first call and
   * stored in `frame.faces`; later calls return what is stored.
   */
  selectFaces(frame: Frame): Promise<AnalysedFace[]>;
  /**
   * What `selectFaces` decides, shown whole (a preview): every face found and the ones picked. Stores
   * the picked faces in `frame.faces` as `selectFaces` does, so the processors do not look again.
   */
  analyseFrame(frame: Frame): Promise<FrameFaces>;
  /** The `-s` images' face, computed once; a clear error when an image has no face. */
  sourceFace(): Promise<SourceFace>;
  /**
   * Gives each of these faces of `frame` its recognizer embedding where it has none yet (in place), from
   * the frame as it is now: call it before painting the faces.
   */
  embedFaces(frame: Frame, faces: AnalysedFace[]): Promise<void>;
  /**
   * Surfaces what can go wrong before any video work: the reference face is already found when the
   * analyser loads; with `source`, the source face is computed too.
   */
  prepare(source: boolean): Promise<void>;
  dispose(): Promise<void>;
}

/** Where faces are looked for: a still image in RGB, or a video frame in its own YUV planes. */
interface Picture {
  /** The detector's faces, in picture pixels. */
  detect(): Promise<DetectedFace[]>;
  /** A `width`×`height` RGB image sampled through `matrix` (picture → output pixels). */
  warp(matrix: Affine, width: number, height: number): RgbImage;
  /** The face with these 5 landmarks aligned onto `template`, `size` pixels square. */
  align(landmarks: readonly Point[], template: WarpTemplate, size: number): RgbImage;
}

function imagePicture(image: RgbImage, detector: FaceDetector): Picture {
  return {
    detect: () => detector.detect(image),
    warp: (matrix, width, height) => warpAffine(image, matrix, width, height),
    align: (landmarks, template, size) => alignFace(image, landmarks, template, size).crop,
  };
}

/**
 * The detector's RGB picture of a frame, kept from one frame to the next: a new 1080p-sized array per
 * frame costs more in page faults and garbage collection than filling it.
 */
class Scratch {
  private kept: Uint8ClampedArray | undefined;

  /** The kept array, now the caller's; undefined when another detection holds it, or before the first. */
  take(): Uint8ClampedArray | undefined {
    const taken = this.kept;
    this.kept = undefined;
    return taken;
  }

  /** Keeps the array behind `used` (the picture's data) for the next frame. */
  give(taken: Uint8ClampedArray | undefined, used: Uint8Array): void {
    this.kept = taken?.buffer === used.buffer ? taken : new Uint8ClampedArray(used.buffer);
  }
}

/**
 * A frame is detected on an RGB copy shrunk to the detector's size (the only full-frame conversion);
 * the landmarker's crop and the aligned faces are sampled at the frame's own resolution, converting
 * only the pixels they cover.
 */
function framePicture(frame: Frame, detector: FaceDetector, detectSize: Size, scratch: Scratch): Picture {
  return {
    async detect() {
      const reuse = scratch.take();
      const { image, scale } = frameToRgbScaled(frame, detectSize.width, detectSize.height, reuse);
      let faces: DetectedFace[];
      try {
        faces = await detector.detect(image);
      } finally {
        scratch.give(reuse, image.data);
      }
      return faces.map(({ box, score, landmarks }) => ({
        box: [box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale],
        score,
        landmarks: landmarks.map(([x, y]): Point => [x * scale, y * scale]),
      }));
    },
    warp: (matrix, width, height) => warpFrameRegion(frame, matrix, width, height),
    align: (landmarks, template, size) => alignFromFrame(frame, [...landmarks], template, size).crop,
  };
}

/** The models an analyser uses besides the detector, each only where the options need it. */
interface AnalysisModels {
  landmarker?: FaceLandmarker;
  /** fan_68_5: with the landmarker, for each face's angle, which turns its crop; else for the area mask. */
  fan68?: Fan68From5;
  /** fairface, when the selector filters faces. */
  classifier?: FaceClassifier;
}

class OnnxFaceAnalyser implements FaceAnalyser {
  private recognizer?: Promise<FaceRecognizer>;
  private filters?: Promise<FaceFilters>;
  private source?: Promise<SourceFace>;
  /** The reference face's embedding, in reference mode. */
  private reference?: Embedding;
  /** The box frames are shrunk into to be detected (the detector size, less the margin added around them). */
  private readonly detectSize: Size;
  private readonly detectScratch = new Scratch();
  private readonly pictures: PictureReader;

  constructor(
    private readonly options: ProcessorOptions,
    private readonly detector: FaceDetector,
    private readonly models: AnalysisModels,
  ) {
    const { model, size, margin } = options.face.detector;
    this.detectSize = sizeInsideMargin(parseDetectorSize(detectorSpec(model), size), margin);
    this.pictures = options.pictures ?? decodePictures;
  }

  private loadRecognizer(): Promise<FaceRecognizer> {
    this.recognizer ??= loadFaceRecognizer(this.options.models, this.options.execution);
    return this.recognizer;
  }

  /**
   * fan_68_5's 68 points estimated from the detector's 5, or, with the landmarker, its 68 points from a crop
   * turned by the face's angle (from fan_68_5's points, as FaceFusion's); a confident result replaces the
   * detector's 5 points (FaceFusion's `--face-landmarker-score`).
   */
  private async refine(picture: Picture, faces: DetectedFace[]): Promise<AnalysedFace[]> {
    const { landmarker, fan68 } = this.models;
    if (!fan68) return faces;
    const refined: AnalysedFace[] = [];
    for (const face of faces) {
      const estimated = await fan68.estimate(face.landmarks);
      if (!landmarker) {
        refined.push({ ...face, landmarks68: estimated });
        continue;
      }
      const matrix = landmarkerMatrix(face.box, faceAngle(estimated));
      const crop = picture.warp(matrix, LANDMARKER_SIZE, LANDMARKER_SIZE);
      const { points, score } = await landmarker.detectCrop(crop, matrix);
      const confident = score > this.options.face.landmarkerScore;
      refined.push({
        ...face,
        landmarks: confident ? landmarks68to5(points) : face.landmarks,
        landmarks68: points,
        ...(confident ? { detectorLandmarks: face.landmarks } : {}),
      });
    }
    return refined;
  }

  private async embed(picture: Picture, faces: AnalysedFace[]): Promise<AnalysedFace[]> {
    const recognizer = await this.loadRecognizer();
    const { template, size } = recognizer.spec;
    const embedded: AnalysedFace[] = [];
    for (const face of faces) {
      const embedding = await recognizer.embedCrop(picture.align(face.landmarks, template, size));
      embedded.push({ ...face, embedding });
    }
    return embedded;
  }

  /** Each face with its gender, age and race, when the selector filters faces; as they are otherwise. */
  private async classify(picture: Picture, faces: AnalysedFace[]): Promise<AnalysedFace[]> {
    const { classifier } = this.models;
    if (!classifier) return faces;
    const { template, size } = CLASSIFIER_CROP;
    const classified: AnalysedFace[] = [];
    for (const face of faces) {
      const classification = await classifier.classifyCrop(picture.align(face.landmarks, template, size));
      classified.push({ ...face, classification });
    }
    return classified;
  }

  /** The selector's filters, `auto` resolved against the source images' largest face. */
  private faceFilters(): Promise<FaceFilters> {
    this.filters ??= (async () => {
      const { selector } = this.options.face;
      const auto = selector.gender === 'auto' || selector.race === 'auto';
      return faceFilters(selector, auto ? await this.sourceClass() : undefined);
    })();
    return this.filters;
  }

  /** FaceFusion's source face for `auto` filters: the largest face of all the `-s` images, classified. */
  private async sourceClass(): Promise<FaceClass | undefined> {
    let largest: { picture: Picture; face: DetectedFace } | undefined;
    for (const path of this.options.sources) {
      const picture = imagePicture(await this.pictures.image(path), this.detector);
      const face = largestFace(await picture.detect());
      if (face && (!largest || orderFaces([largest.face, face], 'large-small')[0] === face)) {
        largest = { picture, face };
      }
    }
    if (!largest) return undefined;
    const [classified] = await this.classify(
      largest.picture,
      await this.refine(largest.picture, [largest.face]),
    );
    return classified.classification;
  }

  /**
   * Takes the reference face from the target (an image target is its own reference frame), as FaceFusion
   * does. A picture without a face is an error; when the selector's filters leave none of its faces, there
   * is no reference and no face is processed, as in FaceFusion.
   */
  async loadReference(): Promise<void> {
    const { target, face } = this.options;
    const { referenceFrame, referencePosition, order } = face.selector;
    const reference = imageFormatOf(target)
      ? this.pictures.image(target)
      : this.pictures.videoFrame(target, referenceFrame);
    const picture = imagePicture(await reference, this.detector);
    const faces = await this.classify(picture, await this.refine(picture, await picture.detect()));
    const chosen = faceAt(faces, order, referencePosition, await this.faceFilters());
    if (!chosen && faces.length > 0) return;
    if (!chosen) {
      throw new UserError(
        `no face found in frame ${referenceFrame} of ${inputName(target)} to take the reference face from: ` +
          'pick a frame that shows the face with --reference-frame-number, or use --face-selector-mode many',
      );
    }
    const [embedded] = await this.embed(picture, [chosen]);
    this.reference = embedded.embedding;
  }

  async selectFaces(frame: Frame): Promise<AnalysedFace[]> {
    if (!frame.faces) await this.analyseFrame(frame);
    return frame.faces ?? [];
  }

  async analyseFrame(frame: Frame): Promise<FrameFaces> {
    const { selector } = this.options.face;
    const picture = framePicture(frame, this.detector, this.detectSize, this.detectScratch);
    const detected: AnalysedFace[] = await picture.detect();
    if (selector.mode === 'reference') {
      const embedded = await this.embed(picture, await this.refine(picture, detected));
      frame.faces = selectFaces(embedded, selector, this.reference);
      return { detected: embedded, selected: new Set(frame.faces) };
    }
    if (this.models.classifier) {
      const classified = await this.classify(picture, await this.refine(picture, detected));
      frame.faces = selectFaces(classified, selector, undefined, await this.faceFilters());
      return { detected: classified, selected: new Set(frame.faces) };
    }
    // The order needs only boxes and scores, so the landmarker runs on the chosen faces alone.
    const chosen = selectFaces(detected, selector);
    frame.faces = await this.refine(picture, chosen);
    return { detected, selected: new Set(chosen) };
  }

  sourceFace(): Promise<SourceFace> {
    this.source ??= this.averageSources();
    return this.source;
  }

  async embedFaces(frame: Frame, faces: AnalysedFace[]): Promise<void> {
    const missing = faces.filter((face) => !face.embedding);
    if (missing.length === 0) return;
    const picture = framePicture(frame, this.detector, this.detectSize, this.detectScratch);
    const embedded = await this.embed(picture, missing);
    missing.forEach((face, i) => {
      face.embedding = embedded[i].embedding;
    });
  }

  async prepare(source: boolean): Promise<void> {
    if (source) await this.sourceFace();
  }

  private async averageSources(): Promise<SourceFace> {
    const { sources } = this.options;
    if (sources.length === 0) throw new UserError('no source image given (-s): the face to put in is needed');
    const embeddings: Embedding[] = [];
    let first: Pick<SourceFace, 'image' | 'landmarks'> | undefined;
    for (const path of sources) {
      const image = await this.pictures.image(path);
      const picture = imagePicture(image, this.detector);
      const largest = largestFace(await picture.detect());
      if (!largest) throw new UserError(`no face found in source image ${inputName(path)}`);
      const [face] = await this.embed(picture, await this.refine(picture, [largest]));
      embeddings.push(face.embedding as Embedding);
      first ??= { image, landmarks: face.landmarks };
    }
    return { ...averageEmbeddings(embeddings), ...first! };
  }

  async dispose(): Promise<void> {
    const recognizer = await this.recognizer?.catch(() => undefined);
    const { landmarker, fan68, classifier } = this.models;
    await Promise.all([
      this.detector.dispose(),
      landmarker?.dispose(),
      fan68?.dispose(),
      classifier?.dispose(),
      recognizer?.dispose(),
    ]);
  }
}

/** FaceFusion's average face: the mean of the raw embeddings and the mean of the normalised ones. */
export function averageEmbeddings(embeddings: readonly Embedding[]): Pick<SourceFace, 'raw' | 'normed'> {
  const length = embeddings[0].vector.length;
  const raw = new Float32Array(length);
  const normed = new Float32Array(length);
  for (const { vector, norm } of embeddings) {
    for (let i = 0; i < length; i++) {
      raw[i] += (vector[i] * norm) / embeddings.length;
      normed[i] += vector[i] / embeddings.length;
    }
  }
  return { raw, normed };
}

/** Whether the 68-point landmarker runs (FaceFusion: `--face-landmarker-score 0` turns it off). */
export const usesLandmarker = (face: Pick<ProcessorOptions['face'], 'landmarker' | 'landmarkerScore'>) =>
  face.landmarker === '2dfan4' && face.landmarkerScore > 0;

/**
 * Whether fan_68_5 runs: with the landmarker, for each face's angle, which turns the landmarker's crop (as
 * FaceFusion's does: a detector finds lying faces even at angle 0); without it, for the area mask's 68 points.
 */
export const usesFan68 = (face: Pick<ProcessorOptions['face'], 'landmarker' | 'landmarkerScore' | 'mask'>) =>
  usesLandmarker(face) || face.mask.types.includes('area');

/**
 * Loads the detector, the landmarker when `face.landmarker` asks for one, fan_68_5 for the landmarker's
 * turn or the area mask's 68 points, the classifier when the selector filters faces, and, in reference mode, the
 * recognizer with the reference face (so a reference frame without a face fails here, before any
 * work). Otherwise the recognizer loads on the first `sourceFace()`.
 */
export async function loadFaceAnalyser(options: ProcessorOptions): Promise<FaceAnalyser> {
  const { face, models, execution } = options;
  const detector = await loadFaceDetector(face.detector, models, execution);
  let analyser: OnnxFaceAnalyser | undefined;
  try {
    const loaded: AnalysisModels = {};
    analyser = new OnnxFaceAnalyser(options, detector, loaded);
    if (usesLandmarker(face)) loaded.landmarker = await loadFaceLandmarker(models, execution);
    if (usesFan68(face)) loaded.fan68 = await loadFan68From5(models, execution);
    if (filtersFaces(face.selector)) loaded.classifier = await loadFaceClassifier(models, execution);
    if (face.selector.mode === 'reference') await analyser.loadReference();
    return analyser;
  } catch (error) {
    await (analyser ? analyser.dispose() : detector.dispose());
    throw error;
  }
}
