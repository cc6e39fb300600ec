import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type PipePixelFormat, planeLayout } from '../../src/media/pixelFormat.js';
import type { VideoColour } from '../../src/media/probe.js';
import type { ModelRole } from '../../src/models/registry.js';
import { resolveModelSettings } from '../../src/models/settings.js';
import type { FaceAnalyser, SourceFace } from '../../src/vision/faceAnalyser.js';
import { DEFAULT_EXECUTION, DEFAULT_FACE_OPTIONS, type FaceOptions } from '../../src/vision/faceOptions.js';
import type { AnalysedFace, Frame } from '../../src/vision/frame.js';
import type { SharedModels } from '../../src/vision/processor.js';
import type { ProcessorOptions } from '../../src/vision/processorOptions.js';
import { type FakeModelName, squareLandmarks, writeModelSet } from '../fixtures/models.js';
import type { OnnxGraph } from '../helpers/onnx/graph.js';

/**
 * Shared pieces of the processor tests: synthetic planar YUV frames drawn from an RGB function, a
 * fake SharedModels whose analyser returns the faces the test put in `frame.faces`, and processor
 * options over the generated models.
 */

export type Rgb = [number, number, number];

/** BT.601 limited range (untagged streams), written out independently of the code under test. */
export function rgbToYuv([r, g, b]: Rgb): Rgb {
  const luma = 0.299 * r + 0.587 * g + 0.114 * b;
  return [
    16 + (219 * luma) / 255,
    128 + (224 * (b - luma)) / (255 * 1.772),
    128 + (224 * (r - luma)) / (255 * 1.402),
  ];
}

export const COLOUR: VideoColour = {};

/** A frame whose pixels are `paint(x, y)`: Y per pixel, chroma the mean of the pixels a sample covers. */
export function makeFrame(
  width: number,
  height: number,
  paint: (x: number, y: number) => Rgb,
  pixFmt: PipePixelFormat = 'yuv420p',
): Frame {
  const planes = planeLayout(pixFmt, width, height);
  const last = planes[2];
  const data = Buffer.alloc(last.offset + last.width * last.height * last.bytesPerSample);
  const depth = planes[0].bytesPerSample === 2 ? 4 : 1;
  const put = (plane: number, i: number, value: number) => {
    const p = planes[plane];
    const v = Math.max(0, Math.min(255 * depth + (depth - 1), Math.round(value * depth)));
    if (p.bytesPerSample === 2) data.writeUInt16LE(v, p.offset + i * 2);
    else data[p.offset + i] = v;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) put(0, y * width + x, rgbToYuv(paint(x, y))[0]);
  }
  const cw = planes[1].width;
  const ch = planes[1].height;
  const sx = width / cw > 1 ? 2 : 1;
  const sy = height / ch > 1 ? 2 : 1;
  for (let j = 0; j < ch; j++) {
    for (let i = 0; i < cw; i++) {
      let u = 0;
      let v = 0;
      let n = 0;
      for (let y = j * sy; y < Math.min(height, (j + 1) * sy); y++) {
        for (let x = i * sx; x < Math.min(width, (i + 1) * sx); x++) {
          const [, cu, cv] = rgbToYuv(paint(x, y));
          u += cu;
          v += cv;
          n++;
        }
      }
      put(1, j * cw + i, u / n);
      put(2, j * cw + i, v / n);
    }
  }
  return { index: 0, width, height, pixFmt, colour: COLOUR, data };
}

/** Sample (x, y) of plane 0 (Y), 1 (U) or 2 (V), on the 8-bit scale. */
export function sample(frame: Frame, plane: number, x: number, y: number): number {
  const p = planeLayout(frame.pixFmt, frame.width, frame.height)[plane];
  const i = y * p.width + x;
  return p.bytesPerSample === 2 ? frame.data.readUInt16LE(p.offset + i * 2) / 4 : frame.data[p.offset + i];
}

/** Y, U, V at luma pixel (x, y) (chroma from the sample covering it). */
export function yuvAt(frame: Frame, x: number, y: number): Rgb {
  const [, u] = planeLayout(frame.pixFmt, frame.width, frame.height);
  const cx = u.width < frame.width ? x >> 1 : x;
  const cy = u.height < frame.height ? y >> 1 : y;
  return [sample(frame, 0, x, y), sample(frame, 1, cx, cy), sample(frame, 2, cx, cy)];
}

/** A face whose 5 landmarks are the fixtures' square face with top-left (x, y) and side `size`. */
export function squareFace(x: number, y: number, size: number): AnalysedFace {
  return { box: [x, y, x + size, y + size], score: 1, landmarks: squareLandmarks(x, y, size) };
}

/**
 * A seeded raw embedding and its normalised copy; the source image is a 160×160 picture of a square
 * face (top-left (32, 32), side 96) painted by `paint`, with that face's landmarks.
 */
export function sourceFace(
  seed = 7,
  length = 512,
  paint: (x: number, y: number) => Rgb = (x, y) => [40 + x, 200 - y, 120],
): SourceFace {
  let state = seed;
  const raw = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    raw[i] = (state / 2147483648) * 6 - 3;
  }
  const norm = Math.hypot(...raw);
  const side = 160;
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) data.set(paint(x, y), (y * side + x) * 3);
  }
  const image = { width: side, height: side, data };
  return { raw, normed: raw.map((v) => v / norm), image, landmarks: squareLandmarks(32, 32, 96) };
}

/**
 * Shared models whose analyser returns the faces the test stored in `frame.faces` (with the embeddings the
 * test gave them: `embedFaces` only counts its calls).
 */
export function fakeShared(
  source: SourceFace = sourceFace(),
): SharedModels & { selectCalls: number; embedCalls: number } {
  const shared = {
    selectCalls: 0,
    embedCalls: 0,
    async faceAnalyser(): Promise<FaceAnalyser> {
      return {
        selectFaces: async (frame: Frame) => {
          shared.selectCalls++;
          return frame.faces ?? [];
        },
        analyseFrame: async (frame: Frame) => {
          const faces = frame.faces ?? [];
          return { detected: faces, selected: new Set(faces) };
        },
        sourceFace: async () => source,
        embedFaces: async () => {
          shared.embedCalls++;
        },
        prepare: async () => {},
        dispose: async () => {},
      };
    },
  };
  return shared;
}

type FaceOverrides = { [K in keyof FaceOptions]?: Partial<FaceOptions[K]> };

/**
 * Processor options over the named generated models (plus `extra` graphs registered under their
 * own names, replacing any generated one), with these face options.
 */
export async function processorOptions(
  dir: string,
  names: FakeModelName[],
  face: FaceOverrides = {},
  extra: Record<string, { role: ModelRole; graph: OnnxGraph }> = {},
): Promise<ProcessorOptions<FaceOptions>> {
  const { manifest } = await writeModelSet(dir, names, { format: 'json' });
  if (Object.keys(extra).length > 0) {
    const parsed = JSON.parse(await readFile(manifest, 'utf8')) as { models: { name: string }[] };
    for (const [name, { role, graph }] of Object.entries(extra)) {
      const bytes = graph.toBuffer();
      const path = join(dir, 'fake-models', `${name}.onnx`);
      await writeFile(path, bytes);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      parsed.models = parsed.models.filter((m) => m.name !== name);
      parsed.models.push({ name, url: pathToFileURL(path).href, sha256, role } as { name: string });
    }
    await writeFile(manifest, JSON.stringify(parsed));
  }
  const models = await resolveModelSettings({ modelManifest: manifest, modelDir: join(dir, 'models') }, {});
  const options = structuredClone(DEFAULT_FACE_OPTIONS);
  for (const [key, value] of Object.entries(face)) Object.assign(options[key as keyof FaceOptions], value);
  return { sources: [], target: '', face: options, execution: DEFAULT_EXECUTION, models };
}

/** PSNR in dB of two equally long sample arrays on the 8-bit scale. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Number.POSITIVE_INFINITY : 10 * Math.log10((255 * 255) / mse);
}
