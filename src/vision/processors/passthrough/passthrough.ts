import type { Frame } from '../../frame.js';
import type { Processor } from '../../processor.js';

/** Returns every frame unchanged: for engine tests and benchmarks of the pipeline without a model. */
export class PassthroughProcessor implements Processor {
  readonly name = 'passthrough';

  async load(): Promise<void> {}

  process(frame: Frame): Frame {
    return frame;
  }

  async dispose(): Promise<void> {}
}
