import type { DetectedFace, DetectorSpec, Point, Size } from './detector.js';

/** YOLOv8's detection heads: one anchor per cell at each of these strides. */
const STRIDES = [8, 16, 32];
/** cx, cy, w, h, score, then 5 × (x, y, visibility). */
const CHANNELS = 4 + 1 + 5 * 3;

/** Anchor points (cells over all heads) a YOLOv8 model has at this input size: 8400 at 640×640. */
export function yoloAnchorCount(size: Size): number {
  return STRIDES.reduce(
    (sum, stride) => sum + Math.ceil(size.width / stride) * Math.ceil(size.height / stride),
    0,
  );
}

/**
 * yoloface_8n (YOLOv8-face): one output [1, 20, anchors], channel-major. FaceFusion squeezes and
 * transposes it into one row per anchor [cx, cy, w, h, score, 5 × (x, y, conf)], all in input-tensor
 * pixels already; a face is kept when its score is above (not at) the threshold.
 */
function decode(outputs: Float32Array[], size: Size, minScore: number): DetectedFace[] {
  if (outputs.length !== 1) throw new Error(`yolo_face: expected 1 output, the model has ${outputs.length}`);
  const [data] = outputs;
  const anchors = yoloAnchorCount(size);
  if (data.length !== anchors * CHANNELS) {
    throw new Error(
      `yolo_face: expected ${CHANNELS}×${anchors} values at ${size.width}x${size.height}, the model gave ${data.length}`,
    );
  }
  const at = (channel: number, anchor: number) => data[channel * anchors + anchor];
  const faces: DetectedFace[] = [];
  for (let i = 0; i < anchors; i++) {
    const score = at(4, i);
    if (!(score > minScore)) continue;
    const cx = at(0, i);
    const cy = at(1, i);
    const w = at(2, i);
    const h = at(3, i);
    const landmarks: Point[] = [];
    for (let k = 0; k < 5; k++) landmarks.push([at(5 + 3 * k, i), at(6 + 3 * k, i)]);
    faces.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, landmarks });
  }
  return faces;
}

export const yoloFace: DetectorSpec = {
  name: 'yolo_face',
  model: 'yoloface_8n',
  sizes: ['640x640'],
  channels: 'bgr',
  mean: 0,
  std: 255,
  decode,
};
