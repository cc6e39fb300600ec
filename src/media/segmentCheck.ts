import { MediaError } from './errors.js';
import { probeVideo } from './probe.js';

/** How far a segment's frame may sit from its planned time: well under a frame at any real rate. */
const TOLERANCE_MICROS = 1000;

/**
 * Checks that the video at `path` holds exactly the planned frames: as many, and each at its planned
 * time relative to the first (`plannedMicros`, ascending). A MediaError says what differs.
 */
export async function checkSegmentFrames(
  path: string,
  plannedMicros: readonly number[],
  what: string,
): Promise<void> {
  const { video } = await probeVideo(path);
  if (video.framePts.length !== plannedMicros.length)
    throw new MediaError(`${what} has ${video.framePts.length} frames, the plan ${plannedMicros.length}`);
  const { num, den } = video.timeBase;
  const micros = (pts: number) => ((pts - video.framePts[0]) * num * 1e6) / den;
  for (let i = 0; i < plannedMicros.length; i++) {
    const actual = micros(video.framePts[i]);
    const planned = plannedMicros[i] - plannedMicros[0];
    if (Math.abs(actual - planned) > TOLERANCE_MICROS)
      throw new MediaError(
        `${what}: its frame ${i} is at ${(actual / 1e6).toFixed(6)} s, the plan has ${(planned / 1e6).toFixed(6)} s`,
      );
  }
}
