import type { DetectedFace, DetectorSpec, Point, Size } from './detector.js';

const STRIDES = [8, 16, 32];

/**
 * YuNet (2023mar): one anchor per cell; outputs cls, obj, bbox, kps for strides 8/16/32 in that
 * order. Score = cls · obj, as FaceFusion's detect_with_yunet (OpenCV's FaceDetectorYN takes the
 * square root, so the same threshold keeps fewer faces here than there); the box centre and landmarks
 * are offsets in cells, the size is exp(wh) cells.
 */
function decode(outputs: Float32Array[], size: Size, minScore: number): DetectedFace[] {
  if (outputs.length !== 12) throw new Error(`yunet: expected 12 outputs, the model has ${outputs.length}`);
  const faces: DetectedFace[] = [];
  STRIDES.forEach((stride, level) => {
    const [cls, obj, bbox, kps] = [0, 3, 6, 9].map((group) => outputs[group + level]);
    const cols = Math.floor(size.width / stride);
    const cells = cols * Math.floor(size.height / stride);
    for (let i = 0; i < cells; i++) {
      const score = cls[i] * obj[i];
      if (score < minScore) continue;
      const col = i % cols;
      const row = (i - col) / cols;
      const cx = (col + bbox[i * 4]) * stride;
      const cy = (row + bbox[i * 4 + 1]) * stride;
      const w = Math.exp(bbox[i * 4 + 2]) * stride;
      const h = Math.exp(bbox[i * 4 + 3]) * stride;
      const landmarks: Point[] = [];
      for (let k = 0; k < 5; k++) {
        landmarks.push([(col + kps[i * 10 + 2 * k]) * stride, (row + kps[i * 10 + 2 * k + 1]) * stride]);
      }
      faces.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, landmarks });
    }
  });
  return faces;
}

export const yunet: DetectorSpec = {
  name: 'yunet',
  model: 'yunet_2023_mar',
  sizes: ['640x640'],
  channels: 'bgr',
  mean: 0,
  std: 1,
  decode,
};
