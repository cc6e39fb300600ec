/**
 * A processor thread's entry: loads its own ProcessorChain (its own models and onnxruntime sessions) when
 * told, processes the frames it is sent, in the order they come, replying to each, and disposes the chain
 * when told, then waits for the next one.
 */
import { parentPort } from 'node:worker_threads';
import type { Frame } from '../frame.js';
import type { PictureReader } from '../pictureReader.js';
import type { RgbImage } from '../rgbImage.js';
import { ProcessorChain } from './chain.js';
import {
  type ChainThreadData,
  errorFromThread,
  type FromChainThread,
  postableFrame,
  receivedFrame,
  type ToChainThread,
  threadError,
} from './threadMessages.js';

const port = parentPort!;
const reply = (message: FromChainThread, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/** Replies to one frame: processed, or failed (and whether because its caller gave it up). */
async function processFrame(
  chain: ProcessorChain,
  { id, frame }: { id: number; frame: Frame },
  running: Map<number, AbortController>,
): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    const processed = postableFrame(await chain.process(receivedFrame(frame), controller.signal));
    reply({ kind: 'frame', id, frame: processed.frame }, processed.transfer);
  } catch (error) {
    reply({ kind: 'frameFailed', id, error: threadError(error), aborted: controller.signal.aborted });
  } finally {
    running.delete(id);
  }
}

/** The loaded chain; none before the first load, after a dispose, or when the load failed. */
let chain: ProcessorChain | undefined;
/** The frames in the chain, to abort one when its caller gives it up. */
const running = new Map<number, AbortController>();

/** Pictures asked of the main thread and not yet answered. */
const pictureRequests = new Map<number, { resolve(picture: RgbImage): void; reject(error: Error): void }>();
let nextPictureId = 0;

function askPicture(path: string, index?: number): Promise<RgbImage> {
  const id = nextPictureId++;
  return new Promise((resolve, reject) => {
    pictureRequests.set(id, { resolve, reject });
    reply({ kind: 'readPicture', id, path, index });
  });
}

/** The main thread's pictures: it decodes each once for all its processor threads. */
const pictures: PictureReader = {
  image: (path) => askPicture(path),
  videoFrame: (path, index) => askPicture(path, index),
};

async function load({ names, options }: ChainThreadData): Promise<void> {
  try {
    chain = await ProcessorChain.load(names, { ...options, pictures });
    reply({ kind: 'ready' });
  } catch (error) {
    reply({ kind: 'loadFailed', error: threadError(error) });
  }
}

port.on('message', async (message: ToChainThread) => {
  if (message.kind === 'picture' || message.kind === 'pictureFailed') {
    const request = pictureRequests.get(message.id);
    pictureRequests.delete(message.id);
    if (message.kind === 'picture') request?.resolve(receivedFrame(message.picture));
    else request?.reject(errorFromThread(message.error));
  } else if (message.kind === 'load') await load(message.data);
  else if (message.kind === 'dispose') {
    await chain?.dispose();
    chain = undefined;
    reply({ kind: 'disposed' });
  } else if (!chain) {
    // Only a thread with a loaded chain is sent frames and size questions.
  } else if (message.kind === 'frame') void processFrame(chain, message, running);
  else if (message.kind === 'abort') running.get(message.id)?.abort();
  else reply({ kind: 'outputSize', id: message.id, size: chain.outputSize(message.width, message.height) });
});
