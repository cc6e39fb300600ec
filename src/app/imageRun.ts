import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import type { ProcessorSettings } from '../core/types.js';
import { IMAGE_EXTENSIONS, imageFormatOf, outputScaleSize, writeImage } from '../media/imageFiles.js';
import { inputName } from '../media/inputName.js';
import type { DownloadView } from '../models/download.js';
import type { ModelSettings } from '../models/settings.js';
import type { ExecutionOptions } from '../vision/execution.js';
import { checkFaceJob, prepareFaceJob } from '../vision/faceJob.js';
import { faceOptionsOf } from '../vision/faceOptions.js';
import { loadImage } from '../vision/image.js';
import { ProcessorChain } from '../vision/processors/chain.js';
import { parseProcessorList } from '../vision/processors/registry.js';
import { frameToRgb, rgbToFrame } from '../vision/rgbFrame.js';

export interface ImageRun {
  target: string;
  sources: string[];
  output: string;
  /** Comma-separated, as `--processors` gives them. */
  processors: string;
  face: ProcessorSettings;
  execution: ExecutionOptions;
  models: ModelSettings;
  /** FaceFusion's `--output-image-quality`, 0–100. */
  quality: number;
  /** FaceFusion's `--output-image-scale`: the output is the target's size times this (default 1, whatever the chain's size). */
  scale?: number;
  progressFor?: (name: string) => DownloadView;
}

/** Why an image target cannot give `output`, or undefined when it can. */
export function imageOutputProblem(target: string, output: string): string | undefined {
  if (imageFormatOf(output)) return undefined;
  return `the target ${inputName(target)} is an image: give an image output (${IMAGE_EXTENSIONS.join(', ')}), not ${output}`;
}

/**
 * An image target (`-t photo.jpg -o out.jpg`), as FaceFusion's image workflow does it: the picture, upright
 * by its EXIF orientation, through the processor chain once, written in the output's format at
 * `quality`, at the target's size times `scale` (FaceFusion's `--output-image-scale`, default 1: a frame_enhancer's
 * enlarged picture is resized back unless `scale` asks for more). One picture is one frame: it runs here, in this
 * process, with no job, lease or chunk.
 */
export async function runImage(run: ImageRun): Promise<{ width: number; height: number }> {
  const problem = imageOutputProblem(run.target, run.output);
  if (problem) throw new UserError(problem);
  const outputDir = dirname(resolve(run.output));
  if (!existsSync(outputDir)) throw new UserError(`output directory does not exist: ${outputDir}`);
  if (resolve(run.output) === resolve(run.target))
    throw new UserError(`the output would overwrite the target ${inputName(run.target)}`);
  const processors = parseProcessorList(run.processors);
  const face = faceOptionsOf(run.face);
  checkFaceJob(processors, face, run.sources);
  await prepareFaceJob(
    { processors, sources: run.sources, input: run.target, face: run.face },
    run.models,
    run.execution,
    run.progressFor,
  );
  const picture = await loadImage(run.target);
  const chain = await ProcessorChain.load(processors, {
    sources: run.sources,
    target: run.target,
    face,
    execution: run.execution,
    models: run.models,
  });
  let processed: ReturnType<typeof frameToRgb>;
  try {
    processed = frameToRgb(await chain.process(rgbToFrame(picture)));
  } finally {
    await chain.dispose();
  }
  const size = outputScaleSize(picture.width, picture.height, run.scale);
  await writeImage(run.output, {
    rgb: processed.data,
    width: processed.width,
    height: processed.height,
    size,
    quality: run.quality,
  });
  return size;
}
