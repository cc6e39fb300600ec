import { describe, expect, it } from 'vitest';
import {
  frameByteLength,
  matroskaColourSpace,
  pipeFormatFor,
  planeLayout,
} from '../../src/media/pixelFormat.js';

describe('pipeFormatFor', () => {
  it.each([
    ['yuv420p', 'yuv420p'],
    ['yuvj420p', 'yuv420p'],
    ['yuv422p', 'yuv422p'],
    ['yuvj422p', 'yuv422p'],
    ['yuv444p', 'yuv444p'],
    ['yuvj444p', 'yuv444p'],
    ['yuva420p', 'yuv420p'],
    ['yuv420p10le', 'yuv420p10le'],
    ['yuv420p10be', 'yuv420p10le'],
    ['yuv420p12le', 'yuv420p10le'],
    ['yuv422p10le', 'yuv422p10le'],
    ['yuv444p12le', 'yuv444p10le'],
    ['nv12', 'yuv420p'],
    ['p010le', 'yuv420p10le'],
    ['gbrp', 'yuv444p'],
    ['rgb24', 'yuv444p'],
    ['bgra', 'yuv444p'],
    ['gbrp10le', 'yuv444p10le'],
    ['rgb48le', 'yuv444p10le'],
    ['gray', 'yuv420p'],
    ['pal8', 'yuv420p'],
    ['yuv411p', 'yuv420p'],
  ])('%s travels as %s', (source, pipe) => {
    expect(pipeFormatFor(source)).toBe(pipe);
  });
});

describe('frame layout', () => {
  it('packs planes tightly, rounding subsampled chroma up', () => {
    expect(frameByteLength('yuv420p', 320, 240)).toBe(115200);
    expect(frameByteLength('yuv420p', 853, 481)).toBe(853 * 481 + 2 * 427 * 241);
    expect(frameByteLength('yuv422p', 85, 47)).toBe(85 * 47 + 2 * 43 * 47);
    expect(frameByteLength('yuv444p', 85, 47)).toBe(3 * 85 * 47);
    expect(frameByteLength('yuv420p10le', 85, 47)).toBe(2 * (85 * 47 + 2 * 43 * 24));
    expect(frameByteLength('yuv444p10le', 4, 2)).toBe(48);
  });

  it('describes each plane', () => {
    expect(planeLayout('yuv420p10le', 5, 3)).toEqual([
      { offset: 0, width: 5, height: 3, bytesPerSample: 2 },
      { offset: 30, width: 3, height: 2, bytesPerSample: 2 },
      { offset: 42, width: 3, height: 2, bytesPerSample: 2 },
    ]);
    expect(planeLayout('yuv422p', 4, 2)).toEqual([
      { offset: 0, width: 4, height: 2, bytesPerSample: 1 },
      { offset: 8, width: 2, height: 2, bytesPerSample: 1 },
      { offset: 12, width: 2, height: 2, bytesPerSample: 1 },
    ]);
  });

  it('names each format with a 4-byte Matroska ColourSpace', () => {
    expect(matroskaColourSpace('yuv420p').toString('latin1')).toBe('I420');
    expect(matroskaColourSpace('yuv422p').toString('latin1')).toBe('422P');
    expect(matroskaColourSpace('yuv444p').toString('latin1')).toBe('444P');
    expect([...matroskaColourSpace('yuv420p10le')]).toEqual([0x59, 0x33, 0x0b, 0x0a]);
    expect([...matroskaColourSpace('yuv422p10le')]).toEqual([0x59, 0x33, 0x0a, 0x0a]);
    expect([...matroskaColourSpace('yuv444p10le')]).toEqual([0x59, 0x33, 0x00, 0x0a]);
  });
});
