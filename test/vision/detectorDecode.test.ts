import { describe, expect, it } from 'vitest';
import { detectorSpec } from '../../src/vision/detectors/registry.js';
import { yoloAnchorCount } from '../../src/vision/detectors/yoloFace.js';

const SIZE = { width: 640, height: 640 };

describe('yolo_face decode', () => {
  const spec = detectorSpec('yolo_face');
  const anchors = yoloAnchorCount(SIZE);

  /** A [1, 20, anchors] output with these rows [cx, cy, w, h, score, 5 × (x, y, conf)] at these anchors. */
  function output(rows: Record<number, number[]>): Float32Array {
    const data = new Float32Array(20 * anchors);
    for (const [anchor, row] of Object.entries(rows)) {
      row.forEach((value, channel) => {
        data[channel * anchors + Number(anchor)] = value;
      });
    }
    return data;
  }

  it('is registered with FaceFusion input settings', () => {
    expect(spec).toMatchObject({
      model: 'yoloface_8n',
      sizes: ['640x640'],
      channels: 'bgr',
      mean: 0,
      std: 255,
    });
    expect(anchors).toBe(8400);
  });

  it('turns a row into a box from its centre and size, and 5 landmarks without their confidence', () => {
    const row = [
      320, 240, 100, 120, 0.8, 300, 220, 0.9, 340, 221, 0.9, 321, 245, 0.9, 305, 270, 0.9, 336, 271, 0.9,
    ];
    const faces = spec.decode(
      [output({ 1234: row, 5000: [10, 10, 4, 4, 0.5], 8399: [600, 600, 20, 20, 0.2] })],
      SIZE,
      0.5,
    );
    expect(faces).toHaveLength(1);
    const [found] = faces;
    expect(found.score).toBeCloseTo(0.8, 6);
    expect(found.box).toEqual([270, 180, 370, 300]);
    expect(found.landmarks).toEqual([
      [300, 220],
      [340, 221],
      [321, 245],
      [305, 270],
      [336, 271],
    ]);
  });

  it('refuses an output of another shape', () => {
    expect(() => spec.decode([new Float32Array(20 * 100)], SIZE, 0.5)).toThrow(
      'yolo_face: expected 20×8400 values',
    );
    expect(() => spec.decode([output({}), output({})], SIZE, 0.5)).toThrow('yolo_face: expected 1 output');
  });
});

describe('retinaface decode (shared with scrfd)', () => {
  const spec = detectorSpec('retinaface');

  /** Nine outputs (score, bbox, kps × strides 8/16/32) at 640x640, all zero but one anchor at stride 16. */
  function outputs(anchor: number, score: number, distances: number[], offsets: number[]): Float32Array[] {
    const counts = [8, 16, 32].map((stride) => (640 / stride) ** 2 * 2);
    const scores = counts.map((n) => new Float32Array(n));
    const boxes = counts.map((n) => new Float32Array(n * 4));
    const kps = counts.map((n) => new Float32Array(n * 10));
    scores[1][anchor] = score;
    boxes[1].set(distances, anchor * 4);
    kps[1].set(offsets, anchor * 10);
    return [...scores, ...boxes, ...kps];
  }

  it('is registered with FaceFusion input settings', () => {
    expect(spec).toMatchObject({ model: 'retinaface_10g', channels: 'bgr', mean: 127.5, std: 128 });
    expect(spec.sizes).toContain('640x640');
  });

  it('measures the box and landmarks from the anchor cell corner, in strides', () => {
    // Stride 16, 40 cells a row: cell 420 is row 10, column 20 (corner 320, 160); anchor 841 is its 2nd.
    const offsets = [-1.5, -1, 1.5, -1, 0, 0.5, -1, 2, 1, 2];
    const faces = spec.decode(outputs(841, 0.7, [2, 3, 4, 5], offsets), SIZE, 0.5);
    expect(faces).toHaveLength(1);
    expect(faces[0].score).toBeCloseTo(0.7, 6);
    expect(faces[0].box).toEqual([288, 112, 384, 240]);
    expect(faces[0].landmarks).toEqual([
      [296, 144],
      [344, 144],
      [320, 168],
      [304, 192],
      [336, 192],
    ]);
    expect(spec.decode(outputs(841, 0.4, [2, 3, 4, 5], offsets), SIZE, 0.5)).toEqual([]);
    expect(() => spec.decode(outputs(841, 0.7, [], []).slice(3), SIZE, 0.5)).toThrow(
      'retinaface: expected 9 outputs',
    );
  });
});
