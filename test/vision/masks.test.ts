import { describe, expect, it } from 'vitest';
import {
  boxMask,
  combineMasks,
  gaussianBlur,
  isSharedMask,
  scaledMask,
  smoothModelMask,
} from '../../src/vision/masks.js';

const at = (mask: Float32Array, size: number, x: number, y: number) => mask[y * size + x];

/**
 * Values of FaceFusion's create_box_mask (its formula run with numpy and cv2.GaussianBlur, OpenCV 5.0),
 * at (x, y).
 */
const CV2_BOX: {
  size: number;
  blur: number;
  padding: [number, number, number, number];
  values: number[][];
}[] = [
  {
    size: 256,
    blur: 0.3,
    padding: [0, 0, 0, 0],
    values: [
      [0, 0, 0.0026353062],
      [5, 5, 0.0070853257],
      [10, 10, 0.0348405689],
      [19, 19, 0.2714535892],
      [20, 64, 0.5627619624],
      [40, 40, 0.9766257405],
      [128, 128, 0.9999998808],
      [255, 128, 0.0513352379],
      [30, 3, 0.0559206419],
    ],
  },
  {
    size: 512,
    blur: 0.3,
    padding: [0, 0, 0, 0],
    values: [
      [0, 0, 0.0023365559],
      [19, 19, 0.0277226586],
      [20, 64, 0.1650303155],
      [40, 40, 0.3050908446],
      [64, 64, 0.8436428905],
      [256, 256, 0.9999997616],
      [511, 256, 0.0483379439],
    ],
  },
  {
    size: 128,
    blur: 0.5,
    padding: [10, 0, 20, 5],
    values: [
      [0, 0, 0.0027546524],
      [10, 10, 0.0607222952],
      [19, 19, 0.4478783607],
      [20, 64, 0.713247299],
      [40, 40, 0.9978685379],
      [127, 64, 0.0524847731],
      [30, 3, 0.0668414608],
    ],
  },
];

/** Naive 2-D Gaussian convolution with BORDER_REFLECT_101, independent of the module's separable one. */
function naiveBlur(data: Float32Array, width: number, height: number, sigma: number): Float64Array {
  const radius = (Math.round(sigma * 8 + 1) | 1) >> 1;
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) =>
    Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
  );
  const sum = kernel.reduce((a, b) => a + b, 0);
  const reflect = (i: number, n: number) => {
    let j = i;
    while (j < 0 || j >= n) j = j < 0 ? -j : 2 * n - j - 2;
    return j;
  };
  const out = new Float64Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let dy = -radius; dy <= radius; dy++) {
        for (let dx = -radius; dx <= radius; dx++) {
          const v = data[reflect(y + dy, height) * width + reflect(x + dx, width)];
          acc += ((kernel[dy + radius] * kernel[dx + radius]) / (sum * sum)) * v;
        }
      }
      out[y * width + x] = acc;
    }
  }
  return out;
}

describe('boxMask', () => {
  it.each(CV2_BOX)(
    'gives cv2 values for size $size, blur $blur, padding $padding',
    ({ size, blur, padding, values }) => {
      const mask = boxMask(size, blur, padding);
      expect(mask).toHaveLength(size * size);
      for (const [x, y, expected] of values) expect(at(mask, size, x, y)).toBeCloseTo(expected, 5);
    },
  );

  it('is 1 at the centre, near 0 in the corners, symmetric, within 0–1', () => {
    const size = 256;
    const mask = boxMask(size, 0.3, [0, 0, 0, 0]);
    expect(at(mask, size, 128, 128)).toBeCloseTo(1, 5);
    for (const [x, y] of [
      [0, 0],
      [255, 0],
      [0, 255],
      [255, 255],
    ]) {
      expect(at(mask, size, x, y)).toBeLessThan(0.003);
    }
    for (let y = 0; y < size; y += 7) {
      for (let x = 0; x < size; x += 5) {
        const v = at(mask, size, x, y);
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
        expect(at(mask, size, size - 1 - x, y)).toBeCloseTo(v, 6);
        expect(at(mask, size, x, size - 1 - y)).toBeCloseTo(v, 6);
        expect(at(mask, size, y, x)).toBeCloseTo(v, 6);
      }
    }
  });

  it('zeroes a 1-pixel border without blur, and the padding rows and columns', () => {
    const mask = boxMask(100, 0, [0, 0, 0, 0]);
    expect(at(mask, 100, 0, 50)).toBe(0);
    expect(at(mask, 100, 99, 50)).toBe(0);
    expect(at(mask, 100, 50, 0)).toBe(0);
    expect(at(mask, 100, 1, 1)).toBe(1);
    expect(at(mask, 100, 98, 98)).toBe(1);
    const padded = boxMask(100, 0, [10, 20, 30, 5]);
    expect(at(padded, 100, 50, 9)).toBe(0);
    expect(at(padded, 100, 50, 10)).toBe(1);
    expect(at(padded, 100, 50, 69)).toBe(1);
    expect(at(padded, 100, 50, 70)).toBe(0);
    expect(at(padded, 100, 4, 50)).toBe(0);
    expect(at(padded, 100, 5, 50)).toBe(1);
    expect(at(padded, 100, 79, 50)).toBe(1);
    expect(at(padded, 100, 80, 50)).toBe(0);
  });

  it('moves the feathered edge inwards with the padding', () => {
    const size = 256;
    const plain = boxMask(size, 0.3, [0, 0, 0, 0]);
    const padded = boxMask(size, 0.3, [20, 0, 0, 0]);
    // The zeroed top grows from 19 to int(256·0.2) = 51 rows; the blur is the same.
    expect(at(plain, size, 128, 30)).toBeGreaterThan(0.85);
    expect(at(padded, size, 128, 30)).toBeLessThan(0.02);
    expect(at(padded, size, 128, 51)).toBeCloseTo(at(plain, size, 128, 19), 4);
    expect(at(padded, size, 128, 200)).toBeCloseTo(at(plain, size, 128, 200), 6);
  });

  it('equals the 2-D blur of the bordered box', () => {
    const size = 40;
    const box = new Float32Array(size * size);
    // blur 0.5: blur_amount 10, border max(5, int(40·pad/100)): top 5, right 8, bottom 5, left 5.
    for (let y = 5; y < size - 5; y++) for (let x = 5; x < size - 8; x++) box[y * size + x] = 1;
    const reference = naiveBlur(box, size, size, 2.5);
    const mask = boxMask(size, 0.5, [0, 20, 0, 0]);
    for (let i = 0; i < mask.length; i++) expect(mask[i]).toBeCloseTo(reference[i], 5);
  });

  it('is cached per arguments and marked shared', () => {
    const a = boxMask(128, 0.3, [0, 0, 0, 0]);
    expect(boxMask(128, 0.3, [0, 0, 0, 0])).toBe(a);
    expect(boxMask(128, 0.3, [1, 0, 0, 0])).not.toBe(a);
    expect(boxMask(128, 0.4, [0, 0, 0, 0])).not.toBe(a);
    expect(isSharedMask(a)).toBe(true);
    expect(isSharedMask(new Float32Array(a))).toBe(false);
  });
});

describe('gaussianBlur', () => {
  it('gives cv2.GaussianBlur values (σ 1.3, 7x5)', () => {
    const image = new Float32Array(35).map((_, i) => i ** 1.5);
    const out = gaussianBlur(image, 7, 5, 1.3);
    const row0 = [
      26.9423294067, 28.1797580719, 31.3409385681, 35.449913025, 39.7774200439, 43.4057273865, 44.8921966553,
    ];
    const row2 = [
      64.3560409546, 66.0963668823, 70.4812545776, 76.048828125, 81.7734909058, 86.4935379028, 88.4122467041,
    ];
    for (const [x, v] of row0.entries()) expect(out[x]).toBeCloseTo(v, 3);
    for (const [x, v] of row2.entries()) expect(out[14 + x]).toBeCloseTo(v, 3);
  });

  it('matches a naive 2-D convolution, keeps constants, and handles a kernel wider than the image', () => {
    const image = new Float32Array(13 * 9).map((_, i) => Math.sin(i * 1.7) * 10 + 5);
    const ours = gaussianBlur(image, 13, 9, 2);
    const reference = naiveBlur(image, 13, 9, 2);
    for (let i = 0; i < image.length; i++) expect(ours[i]).toBeCloseTo(reference[i], 4);
    const flat = gaussianBlur(new Float32Array(3 * 2).fill(0.25), 3, 2, 5);
    for (const v of flat) expect(v).toBeCloseTo(0.25, 6);
  });
});

describe('scaledMask', () => {
  it('scales a shared mask once per factor into a shared copy, and any other mask into `into`', () => {
    const box = boxMask(64, 0.3);
    const scaled = scaledMask(box, 0.8);
    expect(scaled).not.toBe(box);
    expect(Array.from(scaled)).toEqual(Array.from(box, (v) => Math.fround(v * 0.8)));
    expect(scaledMask(box, 0.8)).toBe(scaled);
    expect(isSharedMask(scaled)).toBe(true);
    expect(Array.from(scaledMask(box, 0.5))).toEqual(Array.from(box, (v) => Math.fround(v * 0.5)));
    const own = Float32Array.of(1, 0.5, 0);
    const into = new Float32Array(3);
    expect(scaledMask(own, 0.5, into)).toBe(into);
    expect(Array.from(into)).toEqual([0.5, 0.25, 0]);
    expect(isSharedMask(into)).toBe(false);
  });
});

describe('combineMasks', () => {
  it('takes the elementwise minimum, clipped to 0–1', () => {
    const a = Float32Array.from([0.2, 0.9, 1.5, 0.5]);
    const b = Float32Array.from([0.4, 0.3, 1.2, -0.1]);
    expect(Array.from(combineMasks([a, b]))).toEqual([0.2, 0.3, 1, 0].map((v) => Math.fround(v)));
    expect(Array.from(combineMasks([a]))).toEqual([0.2, 0.9, 1, 0.5].map((v) => Math.fround(v)));
    expect(Array.from(a)).toEqual([0.2, 0.9, 1.5, 0.5].map((v) => Math.fround(v)));
    expect(() => combineMasks([a, new Float32Array(3)])).toThrow(RangeError);
    expect(() => combineMasks([])).toThrow(RangeError);
  });
});

describe('smoothModelMask', () => {
  it('gives cv2 values: blur σ 5, clip 0.5–1, rescale', () => {
    const size = 64;
    const mask = new Float32Array(size * size);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (x < 32) mask[y * size + x] = 1;
        if (y >= 10 && y < 20 && x >= 40 && x < 50) mask[y * size + x] = 0.7;
      }
    }
    const out = smoothModelMask(mask, size);
    const expected = [
      [0, 0, 1],
      [20, 30, 0.9788081646],
      [28, 30, 0.5170863867],
      [31, 30, 0.080886364],
      [32, 30, 0],
      [45, 15, 0],
      [60, 60, 0],
    ];
    for (const [x, y, v] of expected) expect(at(out, size, x, y)).toBeCloseTo(v, 5);
    expect(out).not.toBe(mask);
  });

  it('keeps all-ones and all-zeros, clips model output outside 0–1 first', () => {
    const ones = smoothModelMask(new Float32Array(32 * 32).fill(1), 32);
    expect(ones.every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    const overshoot = smoothModelMask(new Float32Array(32 * 32).fill(3), 32);
    expect(overshoot.every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    expect(smoothModelMask(new Float32Array(32 * 32).fill(-2), 32).every((v) => v === 0)).toBe(true);
    expect(() => smoothModelMask(new Float32Array(10), 32)).toThrow(RangeError);
  });
});
