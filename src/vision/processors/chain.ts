import type { FaceAnalyser, FrameFaces } from '../faceAnalyser.js';
import type { FaceOptions } from '../faceOptions.js';
import type { Frame } from '../frame.js';
import type { Processor, SharedModels } from '../processor.js';
import type { ProcessorOptions } from '../processorOptions.js';
import { descriptorsOf } from './registry.js';
import { StagePipeline } from './stagePipeline.js';

/** Models the processors share, loaded on first request and released with the chain. */
class LazySharedModels implements SharedModels {
  private analyser: Promise<FaceAnalyser> | undefined;

  constructor(private readonly options: ProcessorOptions) {}

  faceAnalyser(): Promise<FaceAnalyser> {
    this.analyser ??= import('../faceAnalyser.js').then(({ loadFaceAnalyser }) =>
      loadFaceAnalyser(this.options),
    );
    return this.analyser;
  }

  async dispose(): Promise<void> {
    const analyser = await this.analyser?.catch(() => undefined);
    await analyser?.dispose();
  }
}

/** What a worker's frame loop needs of a loaded chain, run in this thread or in processor threads. */
export interface FrameChain {
  /** Threads the chain's frames are processed on at once. */
  readonly threads: number;
  outputSize(
    width: number,
    height: number,
  ): { width: number; height: number } | Promise<{ width: number; height: number }>;
  process(frame: Frame, signal?: AbortSignal): Promise<Frame>;
  dispose(): Promise<void>;
}

/**
 * A loaded chain of processors, run in `--processors` order on every frame.
 *
 * Several frames may be in the chain at once: each stage (the face analysis, then each processor) takes
 * the frames one at a time, in the order `process` was called, so frame N+1's analysis can run while frame
 * N waits in a later stage. A stage never sees two frames at once, so the processors' reused buffers and
 * the stateful parts (the reference face) act as in a one-frame-at-a-time loop, and every frame comes out
 * the same. (onnxruntime-node runs a session on the calling thread, so inference does not overlap this
 * thread's other work; what overlaps is whatever a stage awaits outside it.)
 */
export class ProcessorChain implements FrameChain {
  readonly threads = 1;
  /** The face analysis (ahead of the first face processor), then each processor. */
  private readonly stages = new StagePipeline<Frame>();

  private constructor(
    private readonly processors: Processor<FaceOptions>[],
    private readonly shared: LazySharedModels,
  ) {}

  /** Loads the chain in order; on failure, disposes what was already loaded. */
  static async load(
    names: readonly string[],
    options: ProcessorOptions<FaceOptions>,
  ): Promise<ProcessorChain> {
    const chain = new ProcessorChain([], new LazySharedModels(options));
    try {
      let analysed = false;
      for (const descriptor of descriptorsOf(names)) {
        const processor: Processor<FaceOptions> = await descriptor.create();
        await processor.load(options, chain.shared);
        chain.processors.push(processor);
        if (descriptor.analysesFaces && !analysed) {
          // The faces are found where the first face processor would find them: after any processor
          // before it (frame_enhancer) has changed the frame.
          analysed = true;
          const analyser = await chain.shared.faceAnalyser();
          chain.stages.add(async (frame) => {
            await analyser.selectFaces(frame);
            return frame;
          });
        }
        chain.stages.add((frame) => processor.process(frame));
      }
      return chain;
    } catch (error) {
      await chain.dispose();
      throw error;
    }
  }

  /** The size of the frames the chain outputs for input frames of this size. */
  outputSize(width: number, height: number): { width: number; height: number } {
    return this.processors.reduce((size, p) => p.outputSize?.(size.width, size.height) ?? size, {
      width,
      height,
    });
  }

  /**
   * The faces the chain's face processors will see in `frame` (a preview shows them): every face found and
   * those the selector picks, which `process` then works on without looking again.
   */
  async analyseFaces(frame: Frame): Promise<FrameFaces> {
    return (await this.shared.faceAnalyser()).analyseFrame(frame);
  }

  /**
   * The frame through every stage. Frames may be handed in before the previous ones are out; they pass
   * each stage in the order they were handed in, so they also come out in that order. `signal` is looked
   * at between stages: a stage already running is not interrupted.
   */
  process(frame: Frame, signal?: AbortSignal): Promise<Frame> {
    return this.stages.run(frame, signal);
  }

  async dispose(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.dispose()));
    await this.shared.dispose();
  }
}
