import type { PipePixelFormat } from '../media/pixelFormat.js';

/** One decoded frame in the source's own planar YUV layout (never full-frame RGB unless a processor asks). */
export interface Frame {
  index: number;
  width: number;
  height: number;
  pixFmt: PipePixelFormat;
  data: Buffer;
}

export interface ProcessorOptions {
  /** Source face images (`-s`), local paths or URLs. */
  sources: string[];
}

/** A step of the processing chain, loaded once per worker and job. Adding one touches one folder. */
export interface Processor {
  readonly name: string;
  load(options: ProcessorOptions): Promise<void>;
  /** May modify `frame.data` in place; returns the frame to pass on. */
  process(frame: Frame): Promise<Frame> | Frame;
  dispose(): Promise<void>;
}
