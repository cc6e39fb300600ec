import { UserError } from '../../../core/errors.js';
import { frameByteLength, type Plane, planeLayout } from '../../../media/pixelFormat.js';
import { ensureModel } from '../../../models/download.js';
import { rgbToYuvCoefficients } from '../../colourMatrix.js';
import type { Point } from '../../detectors/detector.js';
import type { AnalysedFace, Frame } from '../../frame.js';
import { bilinear, frameRegionToRgb, planeSamples, type Samples } from '../../frameImage.js';
import { type InferenceSession, openSession, outputFloat32, runNamed } from '../../onnx.js';
import type { Processor } from '../../processor.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import { type ResizeAxis, resizeAxis } from '../../resample.js';
import type { LoadedOptions } from '../descriptor.js';
import { checkFrameEnhancer, type FrameEnhancerModel } from './models.js';
import type { FrameEnhancerOptions } from './options.js';

/** Bilinear taps of every output sample of one plane (cv2.resize INTER_LINEAR). */
interface PlaneAxes {
  x: ResizeAxis;
  y: ResizeAxis;
}

function scalePoint([x, y]: Point, s: number): Point {
  return [(x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5];
}

/** The frame's faces in the coordinates of the frame scaled by `s` (pixel centres kept aligned). */
export function scaleFaces(faces: AnalysedFace[], s: number): AnalysedFace[] {
  return faces.map((face) => {
    const [x1, y1, x2, y2] = face.box;
    const [a, b] = scalePoint([x1, y1], s);
    const [c, d] = scalePoint([x2, y2], s);
    return {
      ...face,
      box: [a, b, c, d],
      landmarks: face.landmarks.map((p) => scalePoint(p, s)),
      ...(face.landmarks68 ? { landmarks68: face.landmarks68.map((p) => scalePoint(p, s)) } : {}),
      ...(face.detectorLandmarks
        ? { detectorLandmarks: face.detectorLandmarks.map((p) => scalePoint(p, s)) }
        : {}),
    };
  });
}

/**
 * `frame_enhancer` (FaceFusion's frame_enhancer/core.py, enhance_frame with vision.create_tile_frames
 * and merge_tile_frames): the frame, surrounded by `pad` black pixels, is cut into `tile`-square tiles
 * every `tile − 2·overlap` pixels; each tile is read from the frame's YUV on its own (RGB/255, NCHW),
 * run through the model, and only its centre is kept, so no model call ever sees the whole frame. The
 * result is mixed with the frame scaled the plain way (bilinear, cv2.resize) at `--frame-enhancer-blend`
 * percent of enhanced, and written as a new frame `scale` times larger in the same pixel format. The
 * plain part is resampled from the YUV planes directly and the mix is done in YUV (the same as mixing
 * in RGB, the conversion being linear), so at blend 0 no precision is lost to RGB.
 */
export class FrameEnhancerProcessor
  implements Processor<LoadedOptions<'frameEnhancer', FrameEnhancerOptions>>
{
  readonly name = 'frame_enhancer';
  private session: InferenceSession | undefined;
  private model!: FrameEnhancerModel;
  private modelName = '';
  private blend = 0;
  private tile!: Float32Array;
  private axesKey = '';
  private axes: PlaneAxes[] = [];

  async load(options: ProcessorOptions<LoadedOptions<'frameEnhancer', FrameEnhancerOptions>>): Promise<void> {
    const { model: name, blend } = options.face.frameEnhancer;
    this.model = checkFrameEnhancer(options.face.frameEnhancer);
    this.modelName = name;
    this.blend = blend / 100;
    const path = await ensureModel(name, options.models);
    this.session = await openSession(path, name, options.execution);
    this.tile = new Float32Array(3 * this.model.tile * this.model.tile);
  }

  outputSize(width: number, height: number): { width: number; height: number } {
    return { width: width * this.model.scale, height: height * this.model.scale };
  }

  async process(frame: Frame): Promise<Frame> {
    const { scale } = this.model;
    const { pixFmt } = frame;
    const { width, height } = this.outputSize(frame.width, frame.height);
    const data = Buffer.alloc(frameByteLength(pixFmt, width, height));
    const out: Frame = { index: frame.index, width, height, pixFmt, colour: frame.colour, data };
    if (frame.faces) out.faces = scaleFaces(frame.faces, scale);
    const inPlanes = planeLayout(pixFmt, frame.width, frame.height);
    const outPlanes = planeLayout(pixFmt, width, height);
    if ((outPlanes[1].width < width || outPlanes[1].height < height) && scale % 2 !== 0) {
      throw new UserError(`frame enhancer ${this.modelName} (x${scale}) cannot write subsampled chroma`);
    }
    const source = inPlanes.map((p) => planeSamples(frame.data, p));
    const target = outPlanes.map((p) => planeSamples(data, p));
    const axes = this.planeAxes(frame, inPlanes, outPlanes);
    const { tile, pad, overlap } = this.model;
    const core = tile - 2 * overlap;
    const rows = Math.ceil((frame.height + pad) / core);
    const cols = Math.ceil((frame.width + pad) / core);
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        const x0 = col * core - pad - overlap;
        const y0 = row * core - pad - overlap;
        const result = await this.runTile(frame, x0, y0);
        // The tile's centre, in output pixels, clipped to the output frame.
        const left = Math.max(0, (x0 + overlap) * scale);
        const top = Math.max(0, (y0 + overlap) * scale);
        const right = Math.min(width, (x0 + overlap + core) * scale);
        const bottom = Math.min(height, (y0 + overlap + core) * scale);
        if (right <= left || bottom <= top) continue;
        this.writeRegion(frame, result, x0 * scale, y0 * scale, [left, top, right, bottom], {
          source,
          target,
          axes,
          inPlanes,
          outPlanes,
        });
      }
    }
    return out;
  }

  /** Runs the model on the tile whose top-left corner is frame pixel (x0, y0); outside the frame is black. */
  private async runTile(frame: Frame, x0: number, y0: number): Promise<Float32Array> {
    const { tile: size, scale } = this.model;
    const session = this.session!;
    const { tile } = this;
    tile.fill(0);
    const rgb = frameRegionToRgb(frame, x0, y0, size, size);
    const dx = Math.max(0, x0) - x0;
    const dy = Math.max(0, y0) - y0;
    const area = size * size;
    for (let y = 0; y < rgb.height; y++) {
      for (let x = 0; x < rgb.width; x++) {
        const i = (y * rgb.width + x) * 3;
        const t = (y + dy) * size + x + dx;
        tile[t] = rgb.data[i] / 255;
        tile[area + t] = rgb.data[i + 1] / 255;
        tile[2 * area + t] = rgb.data[i + 2] / 255;
      }
    }
    const outputs = await runNamed(session, {
      [session.inputNames[0]]: { data: tile, dims: [1, 3, size, size] },
    });
    const result = outputFloat32(outputs[session.outputNames[0]]);
    const outSize = size * scale;
    if (result.length !== 3 * outSize * outSize) {
      throw new UserError(
        `frame enhancer ${this.modelName} gave ${result.length} values for a ${size}x${size} tile, ` +
          `expected 3x${outSize}x${outSize} (scale ${scale})`,
      );
    }
    return result;
  }

  /** The bilinear taps of the plain upscale for each plane, cached per input size and format. */
  private planeAxes(frame: Frame, inPlanes: Plane[], outPlanes: Plane[]): PlaneAxes[] {
    const key = `${frame.pixFmt}:${frame.width}x${frame.height}`;
    if (key !== this.axesKey) {
      const s = 1 / this.model.scale;
      this.axes = inPlanes.map((p, i) => ({
        x: resizeAxis(p.width, outPlanes[i].width, outPlanes[i].width, 0, s),
        y: resizeAxis(p.height, outPlanes[i].height, outPlanes[i].height, 0, s),
      }));
      this.axesKey = key;
    }
    return this.axes;
  }

  /**
   * Writes output region [left, right)×[top, bottom) (luma pixels; even when chroma is subsampled):
   * blend·enhanced + (1 − blend)·plain, for Y at every pixel and for U, V at every chroma sample (the
   * enhanced chroma being the mean over the luma pixels the sample covers).
   */
  private writeRegion(
    frame: Frame,
    result: Float32Array,
    originX: number,
    originY: number,
    [left, top, right, bottom]: [number, number, number, number],
    planes: {
      source: Samples[];
      target: Samples[];
      axes: PlaneAxes[];
      inPlanes: Plane[];
      outPlanes: Plane[];
    },
  ): void {
    const { source, target, axes, inPlanes, outPlanes } = planes;
    const outSize = this.model.tile * this.model.scale;
    const area = outSize * outSize;
    const depth = inPlanes[0].bytesPerSample === 2 ? 4 : 1;
    const max = depth === 4 ? 1023 : 255;
    const k = rgbToYuvCoefficients(frame.colour, depth);
    const b = this.blend;
    const clampRound = (v: number) => {
      const r = Math.round(v);
      return r < 0 ? 0 : Math.min(r, max);
    };
    const rgbAt = (x: number, y: number, rgb: number[]) => {
      const t = (y - originY) * outSize + (x - originX);
      for (let c = 0; c < 3; c++) {
        const v = result[c * area + t] * 255;
        rgb[c] = v < 0 ? 0 : Math.min(v, 255);
      }
    };
    const rgb = [0, 0, 0];
    // Luma.
    {
      const src = source[0];
      const dst = target[0];
      const { x: ax, y: ay } = axes[0];
      const inWidth = inPlanes[0].width;
      const outWidth = outPlanes[0].width;
      for (let y = top; y < bottom; y++) {
        const r0 = ay.lo[y] * inWidth;
        const r1 = ay.hi[y] * inWidth;
        const fy = ay.weight[y];
        for (let x = left; x < right; x++) {
          let value = 0;
          if (b > 0) {
            rgbAt(x, y, rgb);
            value = (k.kr * rgb[0] + k.kg * rgb[1] + k.kb * rgb[2]) * k.yMul + k.yAdd;
          }
          if (b < 1) {
            const x0 = ax.lo[x];
            const x1 = ax.hi[x];
            value = b * value + (1 - b) * bilinear(src, r0 + x0, r0 + x1, r1 + x0, r1 + x1, ax.weight[x], fy);
          }
          dst[y * outWidth + x] = clampRound(value);
        }
      }
    }
    // Chroma.
    const xShift = outPlanes[1].width < outPlanes[0].width ? 1 : 0;
    const yShift = outPlanes[1].height < outPlanes[0].height ? 1 : 0;
    const cLeft = left >> xShift;
    const cTop = top >> yShift;
    const cRight = (right + xShift) >> xShift;
    const cBottom = (bottom + yShift) >> yShift;
    const { x: ax, y: ay } = axes[1];
    const inWidth = inPlanes[1].width;
    const outWidth = outPlanes[1].width;
    const [uSrc, vSrc] = [source[1], source[2]];
    const [uDst, vDst] = [target[1], target[2]];
    for (let cy = cTop; cy < cBottom; cy++) {
      const r0 = ay.lo[cy] * inWidth;
      const r1 = ay.hi[cy] * inWidth;
      const fy = ay.weight[cy];
      for (let cx = cLeft; cx < cRight; cx++) {
        let u = 0;
        let v = 0;
        if (b > 0) {
          let n = 0;
          for (let y = cy << yShift; y < Math.min(bottom, (cy + 1) << yShift); y++) {
            for (let x = cx << xShift; x < Math.min(right, (cx + 1) << xShift); x++) {
              rgbAt(x, y, rgb);
              const luma = k.kr * rgb[0] + k.kg * rgb[1] + k.kb * rgb[2];
              u += rgb[2] - luma;
              v += rgb[0] - luma;
              n++;
            }
          }
          u = (u / n) * k.uMul + k.cAdd;
          v = (v / n) * k.vMul + k.cAdd;
        }
        if (b < 1) {
          const x0 = ax.lo[cx];
          const x1 = ax.hi[cx];
          const fx = ax.weight[cx];
          u = b * u + (1 - b) * bilinear(uSrc, r0 + x0, r0 + x1, r1 + x0, r1 + x1, fx, fy);
          v = b * v + (1 - b) * bilinear(vSrc, r0 + x0, r0 + x1, r1 + x0, r1 + x1, fx, fy);
        }
        uDst[cy * outWidth + cx] = clampRound(u);
        vDst[cy * outWidth + cx] = clampRound(v);
      }
    }
  }

  async dispose(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}
