import type { DetectorSpec } from './detector.js';
import { decodeAnchorDistances } from './scrfd.js';

/**
 * FaceFusion's `retinaface` (`retinaface_10g.onnx`, InsightFace's 10G detector): the same input and
 * the same nine outputs as SCRFD, decoded the same way.
 */
export const retinaface: DetectorSpec = {
  name: 'retinaface',
  model: 'retinaface_10g',
  sizes: ['160x160', '320x320', '480x480', '512x512', '640x640'],
  channels: 'bgr',
  mean: 127.5,
  std: 128,
  decode: decodeAnchorDistances('retinaface'),
};
