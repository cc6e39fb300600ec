export interface TimeBase {
  num: number;
  den: number;
}

/** A timestamp in stream ticks as whole microseconds (rounded the same way everywhere, so sums telescope). */
export function ticksToMicros(ticks: number, tb: TimeBase): number {
  return Math.round((ticks * tb.num * 1_000_000) / tb.den);
}

export interface SegmentTiming {
  startFrame: number;
  endFrame: number;
}

/**
 * Duration of each segment in microseconds such that the durations add up exactly to the gap between
 * segment starts; the concat step offsets each segment by the sum of the ones before it. The last one ends
 * where the frame after it starts (a trimmed job's), or with the video's last frame.
 */
export function segmentDurationsMicros(
  segments: readonly SegmentTiming[],
  framePtsAt: (frame: number) => number,
  tb: TimeBase,
  lastFrameDurationTicks: number,
  frameCount: number,
): number[] {
  return segments.map((s, i) => {
    const start = ticksToMicros(framePtsAt(s.startFrame), tb);
    const next = segments[i + 1];
    const end = next
      ? ticksToMicros(framePtsAt(next.startFrame), tb)
      : s.endFrame < frameCount
        ? ticksToMicros(framePtsAt(s.endFrame), tb)
        : ticksToMicros(framePtsAt(s.endFrame - 1) + lastFrameDurationTicks, tb);
    return end - start;
  });
}
