import type { DetectedFace, DetectorSpec, Point, Size } from './detector.js';

const STRIDES = [8, 16, 32];
const ANCHORS_PER_CELL = 2;

/**
 * The decode SCRFD and RetinaFace (InsightFace's `det_*` exports) share: outputs score, bbox, kps for
 * strides 8/16/32 in that order, two anchors per cell centred on the cell's top-left corner; box
 * sides and landmark offsets are distances in strides. A leading batch axis, if any, does not change
 * the flat layout. `name` labels the error when the model has other outputs.
 */
export function decodeAnchorDistances(name: string): DetectorSpec['decode'] {
  return (outputs: Float32Array[], size: Size, minScore: number): DetectedFace[] => {
    if (outputs.length !== 9) throw new Error(`${name}: expected 9 outputs, the model has ${outputs.length}`);
    const faces: DetectedFace[] = [];
    STRIDES.forEach((stride, level) => {
      const [scores, bbox, kps] = [0, 3, 6].map((group) => outputs[group + level]);
      const cols = Math.floor(size.width / stride);
      const anchors = cols * Math.floor(size.height / stride) * ANCHORS_PER_CELL;
      for (let i = 0; i < anchors; i++) {
        const score = scores[i];
        if (score < minScore) continue;
        const cell = Math.floor(i / ANCHORS_PER_CELL);
        const ax = (cell % cols) * stride;
        const ay = Math.floor(cell / cols) * stride;
        const box: DetectedFace['box'] = [
          ax - bbox[i * 4] * stride,
          ay - bbox[i * 4 + 1] * stride,
          ax + bbox[i * 4 + 2] * stride,
          ay + bbox[i * 4 + 3] * stride,
        ];
        const landmarks: Point[] = [];
        for (let k = 0; k < 5; k++) {
          landmarks.push([ax + kps[i * 10 + 2 * k] * stride, ay + kps[i * 10 + 2 * k + 1] * stride]);
        }
        faces.push({ box, score, landmarks });
      }
    });
    return faces;
  };
}

export const scrfd: DetectorSpec = {
  name: 'scrfd',
  model: 'scrfd_2.5g',
  sizes: ['160x160', '320x320', '480x480', '512x512', '640x640'],
  channels: 'bgr',
  mean: 127.5,
  std: 128,
  decode: decodeAnchorDistances('scrfd'),
};
