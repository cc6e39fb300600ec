export type PipePixelFormat =
  | 'yuv420p'
  | 'yuv422p'
  | 'yuv444p'
  | 'yuv420p10le'
  | 'yuv422p10le'
  | 'yuv444p10le';

export interface Plane {
  offset: number;
  width: number;
  height: number;
  bytesPerSample: number;
}

/**
 * The planar YUV layout frames travel in between ffmpeg and the worker.
 * The source's chroma subsampling is kept (4:2:0, 4:2:2, 4:4:4) so that no chroma is thrown away or
 * invented; deeper sources travel as 10 bit (12-bit sources lose two bits, which the 8/10-bit
 * encoders would drop anyway); full-range `yuvj*` formats map to the plain format with the same
 * layout. RGB sources (gbrp, rgb24, bgra, …) become 4:4:4 so their chroma resolution survives;
 * everything else (gray, palette, packed or semi-planar oddities) becomes yuv420p, which every
 * processor and encoder accepts.
 */
export function pipeFormatFor(sourcePixFmt: string): PipePixelFormat {
  const yuv = /^yuv[aj]?(420|422|444)p(\d+)?(le|be)?$/.exec(sourcePixFmt);
  if (yuv) {
    const layout = yuv[1] as '420' | '422' | '444';
    const depth = yuv[2] ? Number(yuv[2]) : 8;
    return depth > 8 ? `yuv${layout}p10le` : `yuv${layout}p`;
  }
  const semiPlanar = /^(nv12|nv21|p010|p016)/.exec(sourcePixFmt);
  if (semiPlanar) return semiPlanar[1].startsWith('p') ? 'yuv420p10le' : 'yuv420p';
  if (/^(gbr|rgb|bgr|argb|abgr|rgba|bgra|0rgb|rgb0|0bgr|bgr0|x2rgb|x2bgr)/.test(sourcePixFmt)) {
    return /(10|12|14|16|48|64)/.test(sourcePixFmt) ? 'yuv444p10le' : 'yuv444p';
  }
  return 'yuv420p';
}

function chromaShift(fmt: PipePixelFormat): { x: boolean; y: boolean } {
  if (fmt.startsWith('yuv420')) return { x: true, y: true };
  if (fmt.startsWith('yuv422')) return { x: true, y: false };
  return { x: false, y: false };
}

/** The Y, U and V planes of one tightly packed frame, in order. */
export function planeLayout(fmt: PipePixelFormat, width: number, height: number): Plane[] {
  const bytesPerSample = fmt.endsWith('10le') ? 2 : 1;
  const shift = chromaShift(fmt);
  const chromaWidth = shift.x ? Math.ceil(width / 2) : width;
  const chromaHeight = shift.y ? Math.ceil(height / 2) : height;
  const lumaBytes = width * height * bytesPerSample;
  const chromaBytes = chromaWidth * chromaHeight * bytesPerSample;
  return [
    { offset: 0, width, height, bytesPerSample },
    { offset: lumaBytes, width: chromaWidth, height: chromaHeight, bytesPerSample },
    { offset: lumaBytes + chromaBytes, width: chromaWidth, height: chromaHeight, bytesPerSample },
  ];
}

export function frameByteLength(fmt: PipePixelFormat, width: number, height: number): number {
  const last = planeLayout(fmt, width, height)[2];
  return last.offset + last.width * last.height * last.bytesPerSample;
}

// ffmpeg's raw pixel format tags (libavcodec/raw.c), which its Matroska demuxer reads from the
// V_UNCOMPRESSED track's ColourSpace; the 10-bit ones are 'Y3' followed by two bytes.
const COLOUR_SPACE: Record<PipePixelFormat, readonly number[]> = {
  yuv420p: [0x49, 0x34, 0x32, 0x30], // I420
  yuv422p: [0x34, 0x32, 0x32, 0x50], // 422P
  yuv444p: [0x34, 0x34, 0x34, 0x50], // 444P
  yuv420p10le: [0x59, 0x33, 0x0b, 0x0a],
  yuv422p10le: [0x59, 0x33, 0x0a, 0x0a],
  yuv444p10le: [0x59, 0x33, 0x00, 0x0a],
};

/** The 4-byte Matroska ColourSpace that ffmpeg's demuxer maps to this pixel format. */
export function matroskaColourSpace(fmt: PipePixelFormat): Buffer {
  return Buffer.from(COLOUR_SPACE[fmt]);
}
