import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/core/types.js';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import type { ExecutionOptions } from '../../src/vision/execution.js';
import { prepareFaceJob } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS, faceOptionsOf } from '../../src/vision/faceOptions.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { FACE_SQUARE, writeModelSet } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { type LocalSegment, runLocalTask } from '../helpers/localTask.js';
import { useTempDir } from '../helpers/tempDir.js';

const WIDTH = 640;
const HEIGHT = 360;
const FRAMES = 30;
const EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 1 };

/**
 * 1 s at 30 fps, black with a white square (the stand-in detectors' face) that moves one 32-pixel
 * grid step every frame, so every frame's output differs and a frame out of place shows.
 */
async function movingSquare(dir: string): Promise<string> {
  const path = join(dir, 'moving.mp4');
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}:r=30:d=1`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=30:d=1`],
    ...['-filter_complex', "[0:v][1:v]overlay=x='32*mod(n,16)':y='64+32*mod(n,3)'"],
    ...['-c:v', 'libx264', '-crf', '4', '-pix_fmt', 'yuv420p', path],
  ]);
  return path;
}

async function sourceImage(dir: string): Promise<string> {
  const path = join(dir, 'source.png');
  await ffmpeg([
    ...['-f', 'lavfi', '-i', `color=c=black:s=${WIDTH}x${HEIGHT}`],
    ...['-f', 'lavfi', '-i', `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}`],
    ...['-filter_complex', '[0:v][1:v]overlay=256:128', '-frames:v', '1', path],
  ]);
  return path;
}

const FRAME_BYTES = (WIDTH * HEIGHT * 3) / 2;

/** The md5 of each decoded yuv420p frame of a video. */
async function decodedHashes(path: string): Promise<string[]> {
  const args = ['-v', 'error', '-i', path, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'];
  const raw = await runTool(resolveBinaries().ffmpeg, args, { failure: 'decode' });
  expect(raw.length % FRAME_BYTES).toBe(0);
  const hashes: string[] = [];
  for (let at = 0; at < raw.length; at += FRAME_BYTES) {
    hashes.push(
      createHash('md5')
        .update(raw.subarray(at, at + FRAME_BYTES))
        .digest('hex'),
    );
  }
  return hashes;
}

/** The md5 of every decoded frame of the segments, in order, with the frame range each segment claims. */
async function frameHashes(segments: LocalSegment[]): Promise<{ ranges: number[][]; hashes: string[] }> {
  const hashes: string[] = [];
  for (const segment of segments) {
    const own = await decodedHashes(segment.path);
    expect(own).toHaveLength(segment.endFrame - segment.startFrame);
    hashes.push(...own);
  }
  return { ranges: segments.map((s) => [s.startFrame, s.endFrame]), hashes };
}

describe('a worker with several frames in flight', () => {
  const dir = useTempDir();
  let input: string;
  let spec: Omit<JobSpec, 'input' | 'output'>;
  let chain: ProcessorChain;
  let serial: { ranges: number[][]; hashes: string[] };

  beforeAll(async () => {
    input = await movingSquare(dir());
    const source = await sourceImage(dir());
    const set = await writeModelSet(dir());
    const models: ModelSettings = await resolveModelSettings(
      { modelDir: join(dir(), 'models'), modelManifest: set.manifest },
      {},
    );
    // FaceFusion's default selector (reference: one face, matched against frame 0's) and both face processors.
    spec = {
      sources: [source],
      processors: ['face_swapper', 'face_enhancer'],
      face: DEFAULT_FACE_OPTIONS,
      // Lossless, so the decoded segments are the chain's frames, whatever segment they fell into.
      encoder: { encoder: 'ffv1', quality: 80, preset: 'veryfast' },
      checkpointFrames: 10,
    };
    await prepareFaceJob({ ...spec, input }, models, EXECUTION);
    chain = await ProcessorChain.load(spec.processors, {
      sources: spec.sources,
      target: input,
      face: faceOptionsOf(spec.face),
      execution: EXECUTION,
      models,
    });
    const run = await runLocalTask({ input, dir: join(dir(), 'serial'), chain, spec, framesInFlight: 1 });
    expect(run.outcome).toBe('completed');
    serial = await frameHashes(run.segments);
  }, 120_000);

  afterAll(async () => {
    await chain?.dispose();
  });

  it('one at a time: every frame processed once, changed by the processors, each different from the last', async () => {
    expect(serial.ranges).toEqual([
      [0, 10],
      [10, 20],
      [20, 30],
    ]);
    expect(serial.hashes).toHaveLength(FRAMES);
    const original = await decodedHashes(input);
    for (let i = 0; i < FRAMES; i++) expect(serial.hashes[i]).not.toBe(original[i]);
    for (let i = 1; i < FRAMES; i++) expect(serial.hashes[i]).not.toBe(serial.hashes[i - 1]);
  });

  it('writes the same frames, hash for hash, with 4 frames in the chain at once', async () => {
    const run = await runLocalTask({
      input,
      dir: join(dir(), 'in-flight-4'),
      chain,
      spec,
      framesInFlight: 4,
    });
    expect(run.outcome).toBe('completed');
    expect(await frameHashes(run.segments)).toEqual(serial);
  }, 120_000);

  it('on a preemption notice, finishes the frames in flight and checkpoints exactly those, then releases', async () => {
    // The notice comes as frame 13 goes in: 10–13 are in the chain, the rest are never started.
    const run = await runLocalTask({
      input,
      dir: join(dir(), 'preempted'),
      chain,
      spec,
      framesInFlight: 4,
      preemptAt: 13,
    });
    expect(run.outcome).toBe('preempted');
    const { ranges, hashes } = await frameHashes(run.segments);
    expect(ranges).toEqual([
      [0, 10],
      [10, 14],
    ]);
    expect(hashes).toEqual(serial.hashes.slice(0, 14));
  }, 120_000);
});
