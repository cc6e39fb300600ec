import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobSpec } from '../../src/core/types.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import type { ExecutionOptions } from '../../src/vision/execution.js';
import { prepareFaceJob } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS, type FaceOptions, faceOptionsOf } from '../../src/vision/faceOptions.js';
import type { Frame } from '../../src/vision/frame.js';
import { decodePictures, type PictureReader } from '../../src/vision/pictureReader.js';
import type { ProcessorOptions } from '../../src/vision/processorOptions.js';
import { ProcessorChain } from '../../src/vision/processors/chain.js';
import { type ModelSet, writeModelSet } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { distPath } from '../helpers/dist.js';
import { runLocalTask } from '../helpers/localTask.js';
import { FRAMES, frameHashes, HEIGHT, movingSquare, sourceImage, WIDTH } from '../helpers/movingSquare.js';
import { useTempDir } from '../helpers/tempDir.js';

type ThreadedChainModule = typeof import('../../src/vision/processors/threadedChain.js');

// Onnxruntime's default intra-op threads, here and in the threads (which take a share of the cores each):
// the frames must not depend on how a session's work is split.
const EXECUTION: ExecutionOptions = { provider: 'cpu', threads: 0 };
const CHAINS = [['face_swapper'], ['face_swapper', 'face_enhancer']];

type Hashes = { ranges: number[][]; hashes: string[] };

/**
 * The processor chain in worker threads (the built modules: a thread runs dist/'s chainThread.js) against
 * the same chain in this thread, on the frame loop's own task (decoder, chain, lossless segments).
 */
describe('a worker with its processors in several threads', () => {
  const dir = useTempDir();
  let input: string;
  let source: string;
  let set: ModelSet;
  let models: ModelSettings;
  let threaded: ThreadedChainModule;
  const serial = new Map<string, Hashes>();

  const specOf = (processors: string[]): Omit<JobSpec, 'input' | 'output'> => ({
    sources: [source],
    processors,
    face: DEFAULT_FACE_OPTIONS,
    encoder: { encoder: 'ffv1', quality: 80, preset: 'veryfast' },
    checkpointFrames: 10,
  });
  const optionsOf = (sources = [source]): ProcessorOptions<FaceOptions> => ({
    sources,
    target: input,
    face: faceOptionsOf(DEFAULT_FACE_OPTIONS),
    execution: EXECUTION,
    models,
  });
  const blackFrame = (index: number, bytes = (WIDTH * HEIGHT * 3) / 2): Frame => ({
    index,
    width: WIDTH,
    height: HEIGHT,
    pixFmt: 'yuv420p',
    colour: { range: 'tv', space: 'bt709' },
    data: Buffer.alloc(bytes, 16),
  });

  beforeAll(async () => {
    threaded = await import(pathToFileURL(distPath('src/vision/processors/threadedChain.js')).href);
    input = await movingSquare(dir());
    source = await sourceImage(dir());
    set = await writeModelSet(dir());
    models = await resolveModelSettings({ modelDir: join(dir(), 'models'), modelManifest: set.manifest }, {});
    for (const processors of CHAINS) {
      await prepareFaceJob({ ...specOf(processors), input }, models, EXECUTION);
      const chain = await ProcessorChain.load(processors, optionsOf());
      try {
        const run = await runLocalTask({
          input,
          dir: join(dir(), `serial-${processors.join('+')}`),
          chain,
          spec: specOf(processors),
          framesInFlight: 1,
        });
        expect(run.outcome).toBe('completed');
        serial.set(processors.join('+'), await frameHashes(run.segments));
      } finally {
        await chain.dispose();
      }
    }
  }, 240_000);

  for (const processors of CHAINS) {
    for (const threads of [2, 3]) {
      it(`${processors.join(' + ')} in ${threads} threads: every frame hash-equal to one thread's`, async () => {
        const chain = await threaded.ThreadedChain.load(processors, optionsOf(), threads);
        try {
          expect(chain.threads).toBe(threads);
          const run = await runLocalTask({
            input,
            dir: join(dir(), `threads-${threads}-${processors.join('+')}`),
            chain,
            spec: specOf(processors),
            framesInFlight: 2 * threads + 1,
          });
          expect(run.outcome).toBe('completed');
          const expected = serial.get(processors.join('+'))!;
          expect(expected.hashes).toHaveLength(FRAMES);
          expect(await frameHashes(run.segments)).toEqual(expected);
        } finally {
          await chain.dispose();
        }
      }, 120_000);
    }
  }

  describe('two threads, loaded once', () => {
    const processors = ['face_swapper', 'face_enhancer'];
    let chain: Awaited<ReturnType<ThreadedChainModule['ThreadedChain']['load']>>;

    beforeAll(async () => {
      chain = await threaded.ThreadedChain.load(processors, optionsOf(), 2);
    }, 120_000);

    afterAll(async () => {
      await chain?.dispose();
    });

    it('on a preemption notice, finishes the frames in the threads and checkpoints exactly those', async () => {
      const run = await runLocalTask({
        input,
        dir: join(dir(), 'preempted'),
        chain,
        spec: specOf(processors),
        framesInFlight: 4,
        preemptAt: 13,
      });
      expect(run.outcome).toBe('preempted');
      const { ranges, hashes } = await frameHashes(run.segments);
      expect(ranges).toEqual([
        [0, 10],
        [10, 14],
      ]);
      expect(hashes).toEqual(serial.get(processors.join('+'))!.hashes.slice(0, 14));
    }, 120_000);

    it('when the lease is lost mid-task, fails with its reason, and the threads take the next task', async () => {
      await expect(
        runLocalTask({
          input,
          dir: join(dir(), 'lost'),
          chain,
          spec: specOf(processors),
          framesInFlight: 4,
          abortAt: 13,
        }),
      ).rejects.toThrow('lease lost');
      const next = await runLocalTask({
        input,
        dir: join(dir(), 'after-lost'),
        chain,
        spec: specOf(processors),
        framesInFlight: 5,
      });
      expect(await frameHashes(next.segments)).toEqual(serial.get(processors.join('+')));
    }, 120_000);

    it('fails a frame with the error the chain in this thread gives, and goes on with the next frames', async () => {
      const short = blackFrame(7, 100);
      const inThread = await ProcessorChain.load(processors, optionsOf());
      const expected = await inThread.process({ ...short, data: Buffer.from(short.data) }).then(
        () => undefined,
        (error: Error) => error,
      );
      await inThread.dispose();
      expect(expected?.message).toMatch(/^frame 7 has 100 bytes/);
      const failed = chain.process(short);
      const after = [chain.process(blackFrame(8)), chain.process(blackFrame(9))];
      await expect(failed).rejects.toThrow(expected!.message);
      await expect(failed).rejects.toMatchObject({ name: expected!.name });
      for (const frame of await Promise.all(after)) expect(frame.data).toHaveLength((WIDTH * HEIGHT * 3) / 2);
    }, 120_000);

    it("gives up a frame whose caller's signal is aborted before it goes in, with the signal's reason", async () => {
      const reason = new Error('stop');
      await expect(chain.process(blackFrame(1), AbortSignal.abort(reason))).rejects.toBe(reason);
    });
  });

  it("fails to load with the chain in this thread's one-line error", async () => {
    const faceless = join(dir(), 'faceless.png');
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=black:s=64x64', '-frames:v', '1', faceless]);
    const expected = await ProcessorChain.load(['face_swapper'], optionsOf([faceless])).then(
      (chain) => chain.dispose(),
      (error: Error) => error,
    );
    expect(expected).toBeInstanceOf(Error);
    // Again and again, on the same threads (kept for the next chain): a thread that ended while another was
    // still loading once hung that one.
    for (let i = 0; i < 4; i++) {
      const failed = threaded.ThreadedChain.load(['face_swapper'], optionsOf([faceless]), 2);
      await expect(failed).rejects.toThrow((expected as Error).message);
      await expect(failed).rejects.toMatchObject({ name: 'UserError' });
    }
  }, 120_000);

  it('reads the source image and the reference frame once for all its threads', async () => {
    const reads: string[] = [];
    const pictures: PictureReader = {
      image: (path) => {
        reads.push(`image ${path}`);
        return decodePictures.image(path);
      },
      videoFrame: (path, index) => {
        reads.push(`frame ${index} of ${path}`);
        return decodePictures.videoFrame(path, index);
      },
    };
    const chain = await threaded.ThreadedChain.load(['face_swapper'], { ...optionsOf(), pictures }, 3);
    try {
      expect(chain.threads).toBe(3);
      const { referenceFrame } = DEFAULT_FACE_OPTIONS.selector;
      expect(reads.sort()).toEqual([`frame ${referenceFrame} of ${input}`, `image ${source}`]);
    } finally {
      await chain.dispose();
    }
    const missing = join(dir(), 'missing.png');
    const expected = await ProcessorChain.load(['face_swapper'], optionsOf([missing])).then(
      (loaded) => loaded.dispose(),
      (error: Error) => error,
    );
    expect(expected).toBeInstanceOf(Error);
    const failed = threaded.ThreadedChain.load(['face_swapper'], optionsOf([missing]), 2);
    await expect(failed).rejects.toThrow((expected as Error).message);
    await expect(failed).rejects.toMatchObject({ name: (expected as Error).name });
  }, 120_000);

  /**
   * Runs a process that loads a 2-thread chain and processes a frame; it must end by itself. `crash`: one
   * thread then stops (ended from outside, as a crash would end it) and two more frames are handed in.
   */
  function childRun(
    ending: 'dispose' | 'forget' | 'load fails' | 'crash' | 'started early' | 'never loaded',
  ): {
    status: number | null;
    stdout: string;
  } {
    const script = `
      const { ThreadedChain, startProcessorThreads } = await import(${JSON.stringify(pathToFileURL(distPath('src/vision/processors/threadedChain.js')).href)});
      const { resolveModelSettings } = await import(${JSON.stringify(pathToFileURL(distPath('src/models/settings.js')).href)});
      const { DEFAULT_FACE_OPTIONS, faceOptionsOf } = await import(${JSON.stringify(pathToFileURL(distPath('src/vision/faceOptions.js')).href)});
      const [modelDir, modelManifest, source, faceless, target, ending] = process.argv.slice(2);
      const models = await resolveModelSettings({ modelDir, modelManifest }, {});
      const options = { sources: [ending === 'load fails' ? faceless : source], target, face: faceOptionsOf(DEFAULT_FACE_OPTIONS), execution: { provider: 'cpu', threads: 0 }, models };
      try {
        if (ending === 'started early' || ending === 'never loaded') startProcessorThreads(2);
        // Threads started for a chain that never comes: the process must still end by itself.
        if (ending === 'never loaded') throw new Error('no chain');
        const chain = await ThreadedChain.load(['face_swapper'], options, 2);
        const frame = { index: 0, width: 64, height: 64, pixFmt: 'yuv420p', colour: { range: 'tv', space: 'bt709' }, data: Buffer.alloc(64 * 64 * 1.5, 16) };
        const out = await chain.process(frame);
        console.log('processed', out.data.length);
        if (ending === 'dispose') await chain.dispose();
        if (ending === 'crash') {
          // Ended while idle: one ended in the middle of an onnxruntime run takes the process down with it.
          await chain.chainThreads[0].worker.terminate();
          const later = [1, 2].map((index) => chain.process({ ...frame, index, data: Buffer.alloc(64 * 64 * 1.5, 16) }));
          for (const result of await Promise.allSettled(later)) console.log('later:', result.reason?.message ?? 'ok');
          await chain.dispose();
          console.log('disposed');
        }
      } catch (error) {
        console.log('failed:', error.message);
      }
    `;
    const args = [join(dir(), 'models'), set.manifest, source, join(dir(), 'black.png'), input, ending];
    const path = join(dir(), 'child.mjs');
    writeFileSync(path, script);
    const child = spawnSync(process.execPath, [path, ...args], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    return { status: child.status, stdout: child.stdout };
  }

  it('holds up no exit: a process ends by itself after dispose, without it, after a failed load, and with threads started early', async () => {
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=black:s=64x64', '-frames:v', '1', join(dir(), 'black.png')]);
    expect(childRun('dispose')).toEqual({ status: 0, stdout: `processed ${64 * 64 * 1.5}\n` });
    expect(childRun('forget')).toEqual({ status: 0, stdout: `processed ${64 * 64 * 1.5}\n` });
    const failed = childRun('load fails');
    expect(failed.status).toBe(0);
    expect(failed.stdout).toMatch(/^failed: no face found in source image \S*black\.png\n$/);
    // Threads started ahead of the chain (as a worker does while it waits for its first task): the chain
    // loads on them, and a process that never loads one still ends.
    expect(childRun('started early')).toEqual({ status: 0, stdout: `processed ${64 * 64 * 1.5}\n` });
    expect(childRun('never loaded')).toEqual({ status: 0, stdout: 'failed: no chain\n' });
  }, 300_000);

  it('fails every later frame, on every thread, once a thread has stopped by itself; still ends', async () => {
    const stopped = 'a processor thread stopped (exit code 1)';
    expect(childRun('crash')).toEqual({
      status: 0,
      stdout: `processed ${64 * 64 * 1.5}\nlater: ${stopped}\nlater: ${stopped}\ndisposed\n`,
    });
  }, 120_000);
});
