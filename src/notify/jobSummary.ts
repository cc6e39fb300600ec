import { costLine } from '../cost/costText.js';
import type { JobReport } from '../cost/jobReport.js';

/** The job's numbers as lines for people (the email body): what it processed, what it took and cost. */
export function jobSummaryLines(report: JobReport): string[] {
  return [
    `Frames: ${report.frames}`,
    `Wall time: ${report.wallSeconds.toFixed(1)} s`,
    `Worker time: ${report.workerSeconds.toFixed(1)} s`,
    `Interruptions: ${report.interruptions} (${report.framesRedone} frames redone)`,
    `${costLine(report.cost).replace(/^cost: /, 'Cost: ')}`,
  ];
}
