import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/core/types.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import type { ExecutionOptions } from '../../src/vision/execution.js';
import { prepareFaceJob } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS, faceOptionsOf } from '../../src/vision/faceOptions.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { writeModelSet } from '../fixtures/models.js';
import { runLocalTask } from '../helpers/localTask.js';
import { decodedHashes, FRAMES, frameHashes, movingSquare, sourceImage } from '../helpers/movingSquare.js';
import { useTempDir } from '../helpers/tempDir.js';

const EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 1 };

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

  it('does not complete a task whose lease was lost as its last frame went in, though every frame was written', async () => {
    await expect(
      runLocalTask({
        input,
        dir: join(dir(), 'lost-last'),
        chain,
        spec,
        framesInFlight: 4,
        abortAt: FRAMES - 1,
      }),
    ).rejects.toThrow('lease lost');
  }, 120_000);
});
