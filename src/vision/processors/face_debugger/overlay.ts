import type { Point } from '../../detectors/detector.js';
import type { Frame } from '../../frame.js';
import { pasteIntoFrame } from '../../frameImage.js';

export type Rgb = readonly [number, number, number];

/** How far OpenCV's line of this thickness reaches either side of its centre: ⌈t/2⌉ pixels, none at 1. */
const halfWidth = (thickness: number) => (thickness > 1 ? Math.ceil(thickness / 2) : 0);

/**
 * Solid drawings over a frame, as FaceFusion's debugger makes them with OpenCV (cv2.rectangle, line,
 * circle, drawContours), kept as colour and coverage at frame size and painted into the frame's YUV in
 * one paste over the drawn rectangle. Pixels match OpenCV's for filled circles (its midpoint algorithm)
 * and for lines along a row or column; a contour's diagonal steps are drawn as circles at its pixels,
 * where OpenCV also fills the band between them, so a thick outline can lack a pixel there.
 */
export class Overlay {
  private rgb = new Uint8Array(0);
  private cover = new Float32Array(0);
  private width = 0;
  private height = 0;
  private left = 0;
  private top = 0;
  private right = -1;
  private bottom = -1;

  /** Starts an empty overlay over a frame of this size. */
  reset(width: number, height: number): void {
    if (width * height !== this.cover.length) {
      this.rgb = new Uint8Array(width * height * 3);
      this.cover = new Float32Array(width * height);
    } else {
      // Only the rectangle drawn on last holds any cover.
      for (let y = this.top; y <= this.bottom; y++)
        this.cover.fill(0, y * this.width + this.left, y * this.width + this.right + 1);
    }
    Object.assign(this, { width, height, left: width, top: height, right: -1, bottom: -1 });
  }

  /** Colours the pixel (x, y) when it is inside the frame. */
  plot(x: number, y: number, colour: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = y * this.width + x;
    this.rgb.set(colour, i * 3);
    this.cover[i] = 1;
    this.left = Math.min(this.left, x);
    this.right = Math.max(this.right, x);
    this.top = Math.min(this.top, y);
    this.bottom = Math.max(this.bottom, y);
  }

  /** A horizontal run of pixels, x1 to x2 included. */
  private span(x1: number, x2: number, y: number, colour: Rgb): void {
    for (let x = x1; x <= x2; x++) this.plot(x, y, colour);
  }

  /** cv2.circle filled (thickness −1), 8-connected: OpenCV's midpoint circle, spans filled. */
  disc([cx, cy]: Point, radius: number, colour: Rgb): void {
    let err = 0;
    let dx = radius;
    let dy = 0;
    let plus = 1;
    let minus = (radius << 1) - 1;
    while (dx >= dy) {
      this.span(cx - dx, cx + dx, cy + dy, colour);
      this.span(cx - dx, cx + dx, cy - dy, colour);
      this.span(cx - dy, cx + dy, cy + dx, colour);
      this.span(cx - dy, cx + dy, cy - dx, colour);
      dy++;
      err += plus;
      plus += 2;
      const mask = (err <= 0 ? 1 : 0) - 1;
      err -= minus & mask;
      dx += mask;
      minus -= mask & 2;
    }
  }

  /**
   * cv2.line between integer points on one row or column, `thickness` pixels: the pixels themselves at
   * 1; thicker, OpenCV's band of half-width ⌈thickness/2⌉ across the segment plus a filled circle of that
   * radius at each end.
   */
  line([x1, y1]: Point, [x2, y2]: Point, thickness: number, colour: Rgb): void {
    const half = halfWidth(thickness);
    const horizontal = y1 === y2;
    for (
      let x = Math.min(x1, x2) - (horizontal ? 0 : half);
      x <= Math.max(x1, x2) + (horizontal ? 0 : half);
      x++
    ) {
      for (
        let y = Math.min(y1, y2) - (horizontal ? half : 0);
        y <= Math.max(y1, y2) + (horizontal ? half : 0);
        y++
      )
        this.plot(x, y, colour);
    }
    if (half === 0) return;
    this.disc([x1, y1], half, colour);
    this.disc([x2, y2], half, colour);
  }

  /** cv2.rectangle's outline between corners (x1, y1) and (x2, y2). */
  rectangle(x1: number, y1: number, x2: number, y2: number, thickness: number, colour: Rgb): void {
    this.line([x1, y1], [x2, y1], thickness, colour);
    this.line([x2, y1], [x2, y2], thickness, colour);
    this.line([x2, y2], [x1, y2], thickness, colour);
    this.line([x1, y2], [x1, y1], thickness, colour);
  }

  /**
   * The outlines of a binary picture (1 = inside) placed at (x0, y0), as cv2.findContours +
   * drawContours draw them: every inside pixel with an outside 4-neighbour (or on the picture's edge),
   * with OpenCV's filled circle of a thick line's half-width around it.
   */
  outline(
    inside: Uint8Array,
    width: number,
    height: number,
    x0: number,
    y0: number,
    thickness: number,
    colour: Rgb,
  ): void {
    const half = halfWidth(thickness);
    const at = (x: number, y: number) =>
      x >= 0 && y >= 0 && x < width && y < height && inside[y * width + x] === 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!at(x, y) || (at(x - 1, y) && at(x + 1, y) && at(x, y - 1) && at(x, y + 1))) continue;
        this.disc([x0 + x, y0 + y], half, colour);
      }
    }
  }

  /** Paints what was drawn into the frame (Y at full resolution, U and V at their own). */
  paint(frame: Frame): void {
    if (this.right < this.left) return;
    const w = this.right - this.left + 1;
    const h = this.bottom - this.top + 1;
    const crop = { width: w, height: h, data: new Uint8Array(w * h * 3) };
    const mask = new Float32Array(w * h);
    for (let y = 0; y < h; y++) {
      const from = (this.top + y) * this.width + this.left;
      crop.data.set(this.rgb.subarray(from * 3, (from + w) * 3), y * w * 3);
      mask.set(this.cover.subarray(from, from + w), y * w);
    }
    pasteIntoFrame(frame, crop, [1, 0, -this.left, 0, 1, -this.top], mask);
  }
}
