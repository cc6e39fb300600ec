import { UserError } from '../core/errors.js';
import type { EnsureOptions } from '../models/download.js';
import type { DetectedFace, DetectorOptions, FaceDetector } from './detectors/detector.js';
import { loadFaceDetector } from './detectors/registry.js';
import type { ExecutionOptions } from './faceOptions.js';
import { loadImage, loadPicture } from './image.js';
import {
  type Embedding,
  type FaceRecognizer,
  faceDistance,
  loadFaceRecognizer,
  recognizerAvailable,
} from './recognizer.js';
import { largestFace } from './selector.js';

export interface InspectOptions {
  /** Image or video path. */
  input: string;
  /** Video frame to look at (default 0). */
  frame?: number;
  detector: DetectorOptions;
  /** Source face images to compare every face with; they make the recognizer required. */
  sources: string[];
  models: EnsureOptions;
  /** Where the models run (default: cpu). */
  execution?: ExecutionOptions;
}

export interface InspectedFace extends DetectedFace {
  /** Present when a recognizer was available. */
  embeddingNorm?: number;
  /** FaceFusion's face distance to each source face, in `sources` order. */
  distances?: number[];
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** A face's box, score and landmarks as spotfuse prints them: pixels to 0.01, the score to 0.0001. */
export function roundedFace({ box, score, landmarks }: DetectedFace): {
  box: [number, number, number, number];
  score: number;
  landmarks: [number, number][];
} {
  return {
    box: [round(box[0], 2), round(box[1], 2), round(box[2], 2), round(box[3], 2)],
    score: round(score, 4),
    landmarks: landmarks.map(([x, y]) => [round(x, 2), round(y, 2)]),
  };
}

/** The largest face of each source image, as FaceFusion's default `large-small` order picks it. */
async function sourceEmbeddings(
  sources: string[],
  detector: FaceDetector,
  recognizer: FaceRecognizer,
): Promise<Embedding[]> {
  const embeddings: Embedding[] = [];
  for (const source of sources) {
    const image = await loadImage(source);
    const largest = largestFace(await detector.detect(image));
    if (!largest) throw new UserError(`no face found in source image ${source}`);
    embeddings.push(await recognizer.embed(image, largest.landmarks));
  }
  return embeddings;
}

/**
 * The faces in an image or video frame, best first; with a recognizer, each face's embedding norm and
 * its distance to every source face. The recognizer is used when sources are given (fetched if need
 * be) or when it is already at hand.
 */
export async function inspectFaces(options: InspectOptions): Promise<InspectedFace[]> {
  const { input, frame, sources, models } = options;
  const picture = await loadPicture(input, frame);
  const detector = await loadFaceDetector(options.detector, models, options.execution);
  let recognizer: FaceRecognizer | undefined;
  try {
    const faces = await detector.detect(picture);
    if (sources.length === 0 && !(await recognizerAvailable(models))) return faces;
    recognizer = await loadFaceRecognizer(models, options.execution);
    const references = await sourceEmbeddings(sources, detector, recognizer);
    const inspected: InspectedFace[] = [];
    for (const face of faces) {
      const embedding = await recognizer.embed(picture, face.landmarks);
      const distances = references.map((reference) => faceDistance(embedding, reference));
      inspected.push({
        ...face,
        embeddingNorm: embedding.norm,
        ...(sources.length > 0 ? { distances } : {}),
      });
    }
    return inspected;
  } finally {
    await detector.dispose();
    await recognizer?.dispose();
  }
}
