import type { FaceAnalysisOptions, FaceSelectorOrder } from './analysisOptions.js';
import type { DetectedFace } from './detectors/detector.js';
import { type Embedding, faceDistance } from './recognizer.js';

type Ranked = Pick<DetectedFace, 'box' | 'score'>;

export const faceArea = ({ box }: Ranked): number => (box[2] - box[0]) * (box[3] - box[1]);

/** Sort key and direction of each order, as FaceFusion's `sort_faces_by_order`. */
const ORDERS: Record<FaceSelectorOrder, [key: (face: Ranked) => number, descending: boolean]> = {
  'left-right': [(face) => face.box[0], false],
  'right-left': [(face) => face.box[0], true],
  'top-bottom': [(face) => face.box[1], false],
  'bottom-top': [(face) => face.box[1], true],
  'small-large': [faceArea, false],
  'large-small': [faceArea, true],
  'best-worst': [(face) => face.score, true],
  'worst-best': [(face) => face.score, false],
};

/** A sorted copy of `faces` (stable: equal keys keep their detection order, as Python's `sorted`). */
export function orderFaces<T extends Ranked>(faces: readonly T[], order: FaceSelectorOrder): T[] {
  const [key, descending] = ORDERS[order];
  const sign = descending ? -1 : 1;
  return [...faces].sort((a, b) => sign * (key(a) - key(b)));
}

/**
 * The face at `position` in this order, or the last one when there are fewer (FaceFusion's
 * `get_one_face`); undefined when there is none.
 */
export function faceAt<T extends Ranked>(
  faces: readonly T[],
  order: FaceSelectorOrder,
  position = 0,
): T | undefined {
  const ordered = orderFaces(faces, order);
  return ordered[Math.min(Math.max(position, 0), ordered.length - 1)];
}

/** The largest face (first in `large-small` order): a source image's face. */
export function largestFace<T extends Ranked>(faces: readonly T[]): T | undefined {
  return faceAt(faces, 'large-small');
}

/**
 * The faces the processors should touch, as FaceFusion's select_faces: `many` all of them in selector
 * order, `one` the first in that order, `reference` those whose face distance to `reference` is below
 * `referenceDistance`, in detection order (none without a reference, or for a face without an embedding).
 */
export function selectFaces<T extends Ranked & { embedding?: Embedding }>(
  faces: readonly T[],
  selector: Pick<FaceAnalysisOptions['selector'], 'mode' | 'order' | 'referenceDistance'>,
  reference?: Embedding,
): T[] {
  const ordered = orderFaces(faces, selector.order);
  switch (selector.mode) {
    case 'many':
      return ordered;
    case 'one':
      return ordered.slice(0, 1);
    case 'reference':
      if (!reference) return [];
      return faces.filter(
        (face) => face.embedding && faceDistance(face.embedding, reference) < selector.referenceDistance,
      );
  }
}
