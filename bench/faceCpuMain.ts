/**
 * `node dist/bench/faceCpuMain.js [--iterations N]`: the face pipeline's CPU work per 1080p frame with
 * one face (see faceCpu.ts), as a table.
 */
import { parseArgs } from 'node:util';
import { benchFaceCpu } from './faceCpu.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200' } } });
const result = await benchFaceCpu({ iterations: Number(values.iterations) });
const pad = (text: string) => text.padEnd(26);
const share = (ms: number) => `${((ms / result.budgetMs) * 100).toFixed(1).padStart(5)} %`;
console.log(
  `face CPU work per ${result.width}x${result.height} yuv420p frame, one face, median of ${result.iterations}:`,
);
console.log(`  ${pad('step')}      ms   of ${result.budgetMs.toFixed(1)} ms (30 fps)`);
for (const step of result.steps) {
  console.log(`  ${pad(step.name)}${step.medianMs.toFixed(2).padStart(7)}   ${share(step.medianMs)}`);
}
console.log(
  `  ${pad('total (median per frame)')}${result.totalMs.toFixed(2).padStart(7)}   ${share(result.totalMs)}`,
);
console.log(`  (for scale: yuvToRgb of the whole frame, avoided, ${result.fullFrameRgbMs.toFixed(2)} ms)`);
