import { join } from 'node:path';
import { decodeFrames } from '../../src/media/frameDecoder.js';
import { type MergeSegment, mergeSegments } from '../../src/media/merge.js';
import { probeVideo, type VideoProbe } from '../../src/media/probe.js';
import { SegmentEncoder } from '../../src/media/segmentEncoder.js';

const micros = (ticks: number, probe: VideoProbe) =>
  Math.round((ticks * probe.video.timeBase.num * 1e6) / probe.video.timeBase.den);

/** Splits [start, end) into `parts` consecutive ranges of whole frames. */
function split(start: number, end: number, parts: number): [number, number][] {
  const bounds = Array.from({ length: parts + 1 }, (_, i) => start + Math.round(((end - start) * i) / parts));
  return bounds.slice(0, -1).map((from, i) => [from, bounds[i + 1]]);
}

/**
 * What the workers do: `tasks` frame ranges, each decoded on its own and encoded as
 * `segmentsPerTask` segments, with durations that telescope as the coordinator computes them.
 */
export async function processSegments(
  source: string,
  probe: VideoProbe,
  dir: string,
  options: { tasks?: number; segmentsPerTask?: number; encoder?: string; name?: string } = {},
): Promise<MergeSegment[]> {
  const { framePts, frameCount } = probe.video;
  const segments: { path: string; startFrame: number }[] = [];
  for (const [taskStart, taskEnd] of split(0, frameCount, options.tasks ?? 3)) {
    const starts = new Set(split(taskStart, taskEnd, options.segmentsPerTask ?? 2).map(([from]) => from));
    let frame = taskStart;
    let encoder: SegmentEncoder | undefined;
    let segmentStart = 0;
    for await (const data of decodeFrames({
      input: source,
      probe,
      startFrame: taskStart,
      endFrame: taskEnd,
    })) {
      if (starts.has(frame)) {
        await encoder?.finish();
        const path = join(dir, `${options.name ?? 'segment'}-${frame}.mp4`);
        segments.push({ path, startFrame: frame });
        segmentStart = micros(framePts[frame], probe);
        encoder = SegmentEncoder.start({
          outputPath: path,
          width: probe.video.width,
          height: probe.video.height,
          pixFmt: probe.video.pipePixFmt,
          encoder: options.encoder,
          colour: probe.video.colour,
          fps: probe.video.fps,
        });
      }
      await encoder!.write(data, micros(framePts[frame], probe) - segmentStart);
      frame++;
    }
    await encoder?.finish();
  }
  const starts = segments.map((s) => micros(framePts[s.startFrame], probe));
  const end = micros(framePts[frameCount - 1] + probe.video.lastFrameDurationTicks, probe);
  return segments.map((s, i) => ({ path: s.path, durationMicros: (starts[i + 1] ?? end) - starts[i] }));
}

/** The whole job: 3 tasks of 2 segments each, then the merge with the source's audio. */
export async function processAndMerge(source: string, dir: string, outputName: string) {
  const probe = await probeVideo(source);
  const segments = await processSegments(source, probe, dir, { name: outputName });
  const output = join(dir, outputName);
  await mergeSegments({ segments, source, probe, outputPath: output });
  return { output, probe };
}
