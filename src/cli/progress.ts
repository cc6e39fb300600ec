import { formatDuration } from '../core/format.js';
import type { JobReport } from '../cost/jobReport.js';

/** Frames per second over the last few seconds, so the ETA follows the current speed. */
class RateWindow {
  private readonly samples: { at: number; frames: number }[] = [];

  add(at: number, frames: number): number {
    this.samples.push({ at, frames });
    while (this.samples.length > 2 && at - this.samples[0].at > 10_000) this.samples.shift();
    const first = this.samples[0];
    const seconds = (at - first.at) / 1000;
    return seconds > 0 ? Math.max(0, frames - first.frames) / seconds : 0;
  }
}

export interface ProgressView {
  update(report: JobReport): void;
  /** Ends the bar's line (before a message, or at the end); the next update draws on a new one. */
  finish(): void;
}

/** A one-line bar on a terminal: frames, fps, ETA, chunks, retries. */
export function terminalProgress(stream: NodeJS.WriteStream): ProgressView {
  const rate = new RateWindow();
  let drawn = false;
  return {
    update(r) {
      const fps = rate.add(Date.now(), r.framesDone);
      const share = r.frames > 0 ? r.framesDone / r.frames : 0;
      const width = 24;
      const filled = Math.round(share * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      const eta = fps > 0 ? (r.frames - r.framesDone) / fps : Number.POSITIVE_INFINITY;
      const stage = r.state === 'merging' ? ' merging' : '';
      const line =
        `[${bar}] ${(share * 100).toFixed(1)}% ${r.framesDone}/${r.frames} frames ${fps.toFixed(1)} fps ` +
        `ETA ${formatDuration(eta)} chunks ${r.tasksDone}/${r.tasks} retries ${r.interruptions + r.failures}${stage}`;
      stream.write(`\r${line.slice(0, (stream.columns || 120) - 1)}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

/** Plain log lines (one JSON object each) for logs and pipes, at most one every `intervalMs`. */
export function logProgress(
  write: (fields: Record<string, unknown>) => void,
  intervalMs = 5000,
): ProgressView {
  const rate = new RateWindow();
  let last = 0;
  return {
    update(r) {
      const now = Date.now();
      const fps = rate.add(now, r.framesDone);
      if (now - last < intervalMs) return;
      last = now;
      write({
        msg: 'progress',
        jobId: r.jobId,
        state: r.state,
        framesDone: r.framesDone,
        frames: r.frames,
        fps: Number(fps.toFixed(2)),
        tasksDone: r.tasksDone,
        tasks: r.tasks,
        retries: r.interruptions + r.failures,
      });
    },
    finish() {},
  };
}
