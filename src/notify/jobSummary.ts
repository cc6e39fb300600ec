import type { JobReport } from '../coordinator/report.js';

/** The job's numbers as lines for people (the email body): what it processed and what it took. */
export function jobSummaryLines(report: JobReport): string[] {
  return [
    `Frames: ${report.frames}`,
    `Wall time: ${report.wallSeconds.toFixed(1)} s`,
    `Worker time: ${report.workerSeconds.toFixed(1)} s`,
    `Interruptions: ${report.interruptions} (${report.framesRedone} frames redone)`,
  ];
}
