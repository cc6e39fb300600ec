import type { FaceAnalyser, FrameFaces } from '../faceAnalyser.js';
import type { FaceOptions } from '../faceOptions.js';
import type { Frame } from '../frame.js';
import type { Processor, SharedModels } from '../processor.js';
import type { ProcessorOptions } from '../processorOptions.js';
import { descriptorsOf } from './registry.js';

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

/** A loaded chain of processors, run in `--processors` order on every frame. */
export class ProcessorChain {
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
      for (const descriptor of descriptorsOf(names)) {
        const processor: Processor<FaceOptions> = await descriptor.create();
        await processor.load(options, chain.shared);
        chain.processors.push(processor);
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

  /** `signal` is looked at between processors: a step already running is not interrupted. */
  async process(frame: Frame, signal?: AbortSignal): Promise<Frame> {
    let current = frame;
    for (const processor of this.processors) {
      signal?.throwIfAborted();
      current = await processor.process(current);
    }
    return current;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.dispose()));
    await this.shared.dispose();
  }
}
