import { afterEach, describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { checkDecoderHwaccel, hwaccels } from '../../src/media/hwaccel.js';

/**
 * `--decoder-hwaccel` is checked against the real ffmpeg before any work: a method it lacks, and a method it
 * has whose device does not open, are each one line that says which. No test needs a GPU: CUDA is pointed at
 * no device, which fails the same way on machines with and without one.
 */

describe('checkDecoderHwaccel', () => {
  const saved = process.env.CUDA_VISIBLE_DEVICES;
  afterEach(() => {
    if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved;
  });

  it('refuses a method this ffmpeg does not have, naming the ones it has', async () => {
    const { ffmpeg } = resolveBinaries();
    const listed = await hwaccels();
    await expect(checkDecoderHwaccel('no-such-accel')).rejects.toThrow(
      `--decoder-hwaccel no-such-accel: ${ffmpeg} has no such hwaccel (it has ${listed.join(', ') || 'none'})`,
    );
  });

  it('refuses a method whose device does not open here, with the reason ffmpeg gives', async () => {
    process.env.CUDA_VISIBLE_DEVICES = '';
    const error = await checkDecoderHwaccel('cuda').catch((e: unknown) => e as Error);
    if (!(await hwaccels()).includes('cuda')) {
      expect(error?.message).toMatch(/^--decoder-hwaccel cuda: .* has no such hwaccel/);
      return;
    }
    expect(error?.message).toMatch(/^--decoder-hwaccel cuda: ffmpeg cannot open a cuda device here \(.+\)$/);
    expect(error?.message).not.toMatch(/Device creation failed|Failed to set value|Error parsing/);
  });
});
