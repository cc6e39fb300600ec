import { UserError } from '../../core/errors.js';
import type { FaceOptions } from '../faceOptions.js';
import type { Frame } from '../frame.js';
import type { ProcessorOptions } from '../processorOptions.js';
import type { RgbImage } from '../rgbImage.js';

/** The chain a processor thread is to load, as `ProcessorChain.load` takes it. */
export interface ChainThreadData {
  names: readonly string[];
  options: ProcessorOptions<FaceOptions>;
}

/** An error as it crosses to the other thread: its class would not survive the copy, so it is named. */
export interface ThreadError {
  name: string;
  message: string;
  /** The thread's stack, for `--verbose`. */
  stack?: string;
  user: boolean;
}

/**
 * To a processor thread: a chain to load, a frame to process, a frame to give up (its caller's signal was
 * aborted), the chain's output size for an input size, dispose the chain (the thread then waits for the
 * next chain to load), or a picture it asked for, or why there is none.
 */
export type ToChainThread =
  | { kind: 'load'; data: ChainThreadData }
  | { kind: 'picture'; id: number; picture: RgbImage }
  | { kind: 'pictureFailed'; id: number; error: ThreadError }
  | { kind: 'frame'; id: number; frame: Frame }
  | { kind: 'abort'; id: number }
  | { kind: 'outputSize'; id: number; width: number; height: number }
  | { kind: 'dispose' };

/**
 * From a processor thread: loaded, or failed to; a frame processed, or failed; an output size; disposed; or
 * a picture its chain needs (a still image, or frame `index` of a video), which the main thread reads once
 * for every thread.
 */
export type FromChainThread =
  | { kind: 'ready' }
  | { kind: 'readPicture'; id: number; path: string; index?: number }
  | { kind: 'loadFailed'; error: ThreadError }
  | { kind: 'frame'; id: number; frame: Frame }
  | { kind: 'frameFailed'; id: number; error: ThreadError; aborted: boolean }
  | { kind: 'outputSize'; id: number; size: { width: number; height: number } }
  | { kind: 'disposed' };

export function threadError(error: unknown): ThreadError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), user: false };
  const { name, message, stack } = error;
  return { name, message, stack, user: error instanceof UserError };
}

/** The error again, a UserError where it was one, so it is reported on one line as in the thread. */
export function errorFromThread({ name, message, stack, user }: ThreadError): Error {
  const error = user ? new UserError(message) : Object.assign(new Error(message), { name });
  if (stack !== undefined) error.stack = stack;
  return error;
}

/**
 * The frame to post to the other thread. Pixels in a SharedArrayBuffer (the decoder's frames) are shared,
 * not copied; others are copied once into a buffer of their own and moved (`transfer`), so the sender's
 * buffer, which it may reuse, stays its own.
 */
export function postableFrame(frame: Frame): { frame: Frame; transfer: ArrayBuffer[] } {
  if (frame.data.buffer instanceof SharedArrayBuffer) return { frame, transfer: [] };
  // A buffer of its own (Buffer.from might copy into Node's shared pool, which must not be moved).
  const own = new Uint8Array(frame.data);
  return { frame: { ...frame, data: Buffer.from(own.buffer) }, transfer: [own.buffer] };
}

/** A frame as posted from the other thread: its pixels arrive as a Uint8Array, made a Buffer again. */
export function receivedFrame<T extends { data: Uint8Array }>(frame: T): T {
  const { buffer, byteOffset, byteLength } = frame.data;
  return { ...frame, data: Buffer.from(buffer, byteOffset, byteLength) };
}
