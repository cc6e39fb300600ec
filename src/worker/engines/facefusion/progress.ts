/**
 * FaceFusion's progress bars (tqdm on stderr, redrawn with carriage returns):
 * `processing:  53%|=====     | 8/15 [00:09<00:09,  1.38s/frame, execution_providers=['cpu']]`.
 * Only the processing phase counts frames done; extraction and merging are part of the run's overhead.
 */
const PROCESSING = /^processing:.*?\|\s*(\d+)\/(\d+)\s*\[/;

/** Frames FaceFusion has processed, from one line of its output; undefined for any other line. */
export function processedFrames(line: string): number | undefined {
  const match = PROCESSING.exec(line.trim());
  return match ? Number(match[1]) : undefined;
}

/** FaceFusion's own messages (`[FACEFUSION.CORE] choose an image for the source!`): what a failure says. */
export function isFacefusionMessage(line: string): boolean {
  return /^\[FACEFUSION[.\w]*\]/.test(line.trim());
}
