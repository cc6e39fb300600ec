import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import type { ModelSettings } from '../../src/models/settings.js';
import type { FaceDetector } from '../../src/vision/detectors/detector.js';
import { loadFaceDetector } from '../../src/vision/detectors/registry.js';
import { type FaceAnalyser, loadFaceAnalyser } from '../../src/vision/faceAnalyser.js';
import { DEFAULT_EXECUTION, DEFAULT_FACE_OPTIONS, type FaceOptions } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { loadImage } from '../../src/vision/image.js';
import type { ProcessorOptions } from '../../src/vision/processorOptions.js';
import { type FaceRecognizer, faceDistance, loadFaceRecognizer } from '../../src/vision/recognizer.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { largestFace, orderFaces } from '../../src/vision/selector.js';
import { ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { face, testdataMissing, testdataModels } from './testdata.js';

const dir = useTempDir();

/** The detector the testdata has (FaceFusion's default yolo_face is not among it). */
const DETECTOR = {
  model: 'scrfd',
  size: '640x640',
  minScore: 0.5,
  angles: [0] as const,
  margin: [0, 0, 0, 0] as const,
};

function faceOptions(selector: Partial<FaceOptions['selector']> = {}): FaceOptions {
  return {
    ...DEFAULT_FACE_OPTIONS,
    detector: DETECTOR,
    // The testdata has no 2dfan4: the detector's 5 points.
    landmarker: 'none',
    selector: { ...DEFAULT_FACE_OPTIONS.selector, ...selector },
  };
}

/** Writes an RGB image as raw rgb24 so ffmpeg reads it exactly as loadImage decoded it (EXIF turned). */
async function rawInput(image: RgbImage, name: string): Promise<string[]> {
  const path = join(dir(), `${name}.rgb`);
  await writeFile(path, image.data);
  return ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${image.width}x${image.height}`, '-i', path];
}

/**
 * A yuv420p Frame (ffmpeg's RGB → YUV: BT.601, limited range) of one image as it is, or of several side
 * by side, each scaled to `height` (aspect kept, width rounded to even).
 */
async function yuvFrame(images: RgbImage[], height?: number): Promise<Frame> {
  const inputs: string[] = [];
  for (const [i, image] of images.entries()) inputs.push(...(await rawInput(image, `frame-${i}`)));
  const filter = height
    ? `${images.map((_, i) => `[${i}:v]scale=-2:${height}[s${i}];`).join('')}${images.map((_, i) => `[s${i}]`).join('')}hstack=${images.length}[out]`
    : '[0:v]null[out]';
  const args = ['-nostdin', '-v', 'error', ...inputs, '-filter_complex', filter, '-map', '[out]'];
  args.push('-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1');
  const data = await runTool(resolveBinaries().ffmpeg, args, { failure: 'test frame' });
  const frameHeight = height ?? images[0].height;
  // Luma plus two chroma planes of half the size, rounded up.
  const width = height ? data.length / 1.5 / height : images[0].width;
  expect(data.length).toBe(width * frameHeight + 2 * Math.ceil(width / 2) * Math.ceil(frameHeight / 2));
  return {
    index: 0,
    width,
    height: frameHeight,
    pixFmt: 'yuv420p',
    colour: { range: 'tv', space: 'bt470bg' },
    data,
  };
}

/** A one-frame H.264 video of an image (sizes rounded down to even). */
async function videoOf(input: string[], name: string): Promise<string> {
  const path = join(dir(), `${name}.mp4`);
  await ffmpeg([
    ...input,
    '-vf',
    'scale=trunc(iw/2)*2:trunc(ih/2)*2',
    '-frames:v',
    '1',
    '-c:v',
    'libx264',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
  return path;
}

describe.skipIf(testdataMissing)(
  'face analyser on real photos (SCRFD and MobileFaceNet from a manifest)',
  () => {
    let models: ModelSettings;
    let detector: FaceDetector;
    let recognizer: FaceRecognizer;
    const analysers: FaceAnalyser[] = [];
    const images: Record<string, RgbImage> = {};
    let blankVideo: string;
    let obamaVideo: string;

    const options = (face: FaceOptions, more: Partial<ProcessorOptions> = {}): ProcessorOptions => ({
      sources: [],
      target: obamaVideo,
      face,
      execution: DEFAULT_EXECUTION,
      models,
      ...more,
    });
    async function analyser(opts: ProcessorOptions): Promise<FaceAnalyser> {
      const loaded = await loadFaceAnalyser(opts);
      analysers.push(loaded);
      return loaded;
    }

    beforeAll(async () => {
      models = await testdataModels(dir());
      detector = await loadFaceDetector(DETECTOR, models);
      recognizer = await loadFaceRecognizer(models);
      for (const name of ['two_people.jpg', 'obama.jpg', 'obama2.jpg', 'biden.jpg']) {
        images[name] = await loadImage(face(name));
      }
      obamaVideo = await videoOf(await rawInput(images['obama.jpg'], 'obama'), 'obama');
      blankVideo = await videoOf(['-f', 'lavfi', '-i', 'color=c=gray:s=320x240:d=1'], 'blank');
    });
    afterAll(async () => {
      await Promise.all(analysers.map((a) => a.dispose()));
      await detector?.dispose();
      await recognizer?.dispose();
    });

    it('finds on a YUV frame the faces the detector finds on the RGB photo, and stores them on the frame', async () => {
      const image = images['two_people.jpg'];
      // 1126x661: larger than the detector's 640, and of odd height (chroma rows rounded up).
      const frame = await yuvFrame([image]);
      const many = await analyser(options(faceOptions({ mode: 'many' })));
      const found = await many.selectFaces(frame);
      const expected = orderFaces(await detector.detect(image), 'large-small');
      expect(found).toHaveLength(2);
      found.forEach((analysed, i) => {
        analysed.box.forEach((v, k) => {
          expect(Math.abs(v - expected[i].box[k])).toBeLessThan(3);
        });
        analysed.landmarks.forEach(([x, y], k) => {
          expect(Math.hypot(x - expected[i].landmarks[k][0], y - expected[i].landmarks[k][1])).toBeLessThan(
            3,
          );
        });
        expect(analysed.embedding).toBeUndefined();
        expect(analysed.landmarks68).toBeUndefined();
      });
      expect(frame.faces).toBe(found);
      expect(await many.selectFaces(frame)).toBe(found);

      const one = await analyser(options(faceOptions({ mode: 'one', order: 'left-right' })));
      const [leftmost] = await one.selectFaces({ ...frame, faces: undefined });
      expect(leftmost.box[0]).toBeCloseTo(Math.min(...found.map((f) => f.box[0])), 6);
    });

    it('with a detector margin, finds on a YUV frame what the detector with that margin finds on the photo', async () => {
      // two_people.jpg cut through the middle of its leftmost face, at an even column.
      const whole = images['two_people.jpg'];
      const [leftmost] = orderFaces(await detector.detect(whole), 'left-right');
      const cut = 2 * Math.round((leftmost.box[0] + leftmost.box[2]) / 4);
      const width = whole.width - cut;
      const data = new Uint8Array(width * whole.height * 3);
      for (let y = 0; y < whole.height; y++) {
        data.set(whole.data.subarray((y * whole.width + cut) * 3, (y + 1) * whole.width * 3), y * width * 3);
      }
      const image = { width, height: whole.height, data };
      const frame = await yuvFrame([image]);
      const margin = [10, 0, 10, 30] as const;
      const many = await analyser(
        options({ ...faceOptions({ mode: 'many' }), detector: { ...DETECTOR, margin } }),
      );
      const found = orderFaces(await many.selectFaces(frame), 'left-right');
      const framed = await loadFaceDetector({ ...DETECTOR, margin }, models);
      try {
        const expected = orderFaces(await framed.detect(image), 'left-right');
        expect(found).toHaveLength(expected.length);
        found.forEach((analysed, i) => {
          analysed.box.forEach((v, k) => {
            // The cut face's left edge, regressed into the black, moves by tens of pixels with the input's
            // rounding (the frame is shrunk to 8-bit RGB, the photo inside the detector, unrounded).
            if (i > 0 || k > 0) expect(Math.abs(v - expected[i].box[k])).toBeLessThan(3);
          });
        });
        // Without the margin the cut face's box stops at the edge; with it, both reach well past it.
        const [unframed] = orderFaces(await detector.detect(image), 'left-right');
        expect(found[0].box[0]).toBeLessThan(unframed.box[0] - 20);
        expect(expected[0].box[0]).toBeLessThan(unframed.box[0] - 20);
      } finally {
        await framed.dispose();
      }
    });

    it('in reference mode selects the face of the person in the reference frame only', async () => {
      const reference = await analyser(options(faceOptions({ mode: 'reference' })));
      // obama2 (626x1200) on the left, biden scaled to 1200 high on the right.
      const frame = await yuvFrame([images['obama2.jpg'], images['biden.jpg']], 1200);
      expect(frame.width).toBe(626 + 528);
      const selected = await reference.selectFaces(frame);
      expect(selected).toHaveLength(1);
      expect(selected[0].box[2]).toBeLessThan(626);
      expect(selected[0].embedding?.vector).toHaveLength(128);

      // The same frame with both faces: both are embedded, only obama's is close to the reference.
      const many = await analyser(options(faceOptions({ mode: 'many' })));
      const both = await many.selectFaces({ ...frame, faces: undefined });
      expect(both).toHaveLength(2);
      const obamaEmbedding = await recognizer.embed(
        images['obama.jpg'],
        largestFace(await detector.detect(images['obama.jpg']))!.landmarks,
      );
      expect(faceDistance(selected[0].embedding!, obamaEmbedding)).toBeLessThan(0.3);
    });

    it('refuses a reference frame without a face, naming the frame and the ways out', async () => {
      const promise = loadFaceAnalyser(options(faceOptions({ mode: 'reference' }), { target: blankVideo }));
      await expect(promise).rejects.toThrow(UserError);
      await expect(promise).rejects.toThrow(
        `no face found in frame 0 of ${blankVideo} to take the reference face from: pick a frame that shows the face with --reference-frame-number, or use --face-selector-mode many`,
      );
    });

    it('averages the raw and the normalised embeddings of the largest face of each source image', async () => {
      const sources = [face('obama.jpg'), face('two_people.jpg')];
      const many = await analyser(options(faceOptions({ mode: 'many' }), { sources }));
      const source = await many.sourceFace();
      expect(await many.sourceFace()).toBe(source);
      const embeddings = [];
      for (const name of ['obama.jpg', 'two_people.jpg']) {
        const largest = largestFace(await detector.detect(images[name]))!;
        embeddings.push(await recognizer.embed(images[name], largest.landmarks));
      }
      expect(source.raw).toHaveLength(128);
      expect(source.normed).toHaveLength(128);
      for (let i = 0; i < 128; i++) {
        const [a, b] = embeddings;
        expect(source.raw[i]).toBeCloseTo((a.vector[i] * a.norm + b.vector[i] * b.norm) / 2, 4);
        expect(source.normed[i]).toBeCloseTo((a.vector[i] + b.vector[i]) / 2, 5);
      }
      // Two different people: the mean of their unit vectors is shorter than 1.
      expect(Math.hypot(...source.normed)).toBeLessThan(0.95);
      // blendswap and uniface take the first image's face itself.
      const obama = images['obama.jpg'];
      expect([source.image.width, source.image.height]).toEqual([obama.width, obama.height]);
      expect(Buffer.from(source.image.data).equals(Buffer.from(obama.data))).toBe(true);
      expect(source.landmarks).toEqual(largestFace(await detector.detect(images['obama.jpg']))!.landmarks);
    });

    it("embeds the faces of a frame on demand (the swapper's weight), keeping those already embedded", async () => {
      const many = await analyser(options(faceOptions({ mode: 'many' })));
      const image = images['two_people.jpg'];
      const frame = await yuvFrame([image]);
      const faces = await many.selectFaces(frame);
      expect(faces.every((f) => f.embedding === undefined)).toBe(true);
      const kept = { vector: new Float32Array(128), norm: 1 };
      faces[1].embedding = kept;
      await many.embedFaces(frame, faces);
      expect(faces[1].embedding).toBe(kept);
      expect(frame.faces?.[0].embedding).toBe(faces[0].embedding);
      // The same person as the RGB photo's face at those landmarks (the frame went through YUV 4:2:0).
      const direct = await recognizer.embed(image, faces[0].landmarks);
      expect(faceDistance(faces[0].embedding!, direct)).toBeLessThan(0.05);
    });

    it('says which source image has no face', async () => {
      const plain = join(dir(), 'plain.png');
      await ffmpeg(['-f', 'lavfi', '-i', 'color=c=beige:s=200x200', '-frames:v', '1', plain]);
      const many = await analyser(
        options(faceOptions({ mode: 'many' }), { sources: [face('obama.jpg'), plain] }),
      );
      await expect(many.sourceFace()).rejects.toThrow(
        new UserError(`no face found in source image ${plain}`),
      );
      await expect(many.prepare(true)).rejects.toThrow(`no face found in source image ${plain}`);
    });

    it('opens the recognizer only when a source face or the reference mode needs it', async () => {
      const catalog = new Map([...models.catalog].filter(([, entry]) => entry.role !== 'face_recognizer'));
      const noRecognizer = { ...models, catalog };
      const many = await analyser(
        options(faceOptions({ mode: 'many' }), { models: noRecognizer, sources: [face('obama.jpg')] }),
      );
      const image = images['two_people.jpg'];
      expect(await many.selectFaces(await yuvFrame([image]))).toHaveLength(2);
      await many.prepare(false);
      await expect(many.sourceFace()).rejects.toThrow('no face_recognizer model is known');
      await expect(
        loadFaceAnalyser(options(faceOptions({ mode: 'reference' }), { models: noRecognizer })),
      ).rejects.toThrow('no face_recognizer model is known');
    });
  },
);
