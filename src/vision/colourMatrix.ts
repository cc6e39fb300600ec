import type { VideoColour } from '../media/probe.js';

/*
 * The one place that knows how a stream's YUV maps to RGB and back: the matrices a decoder may tag a
 * stream with and the limited/full range scaling, on the 8-bit scale (10-bit samples are 4 times
 * larger). frameImage.ts (detector input, crops, paste-back, and yuvToRgb through it) and the frame
 * enhancer read their coefficients from here.
 */

/** Luma weights (Kr, Kb) of the matrices a decoder may tag a stream with. */
const MATRICES: Record<'bt601' | 'bt709' | 'bt2020', [number, number]> = {
  bt601: [0.299, 0.114],
  bt709: [0.2126, 0.0722],
  bt2020: [0.2627, 0.0593],
};

/** The stream's luma weights (Kr, Kb); untagged streams are treated as BT.601, as swscale does. */
function lumaWeights(space: string | undefined): [number, number] {
  if (space === 'bt709') return MATRICES.bt709;
  if (space?.startsWith('bt2020')) return MATRICES.bt2020;
  return MATRICES.bt601;
}

/** The matrix and range on the 8-bit scale: R = (Y − yOffset)·yScale + rv·(Cr − 128), and so on. */
function matrix(colour: VideoColour) {
  const [kr, kb] = lumaWeights(colour.space);
  const kg = 1 - kr - kb;
  const full = colour.range === 'pc';
  const cScale = full ? 1 : 255 / 224;
  return {
    kr,
    kg,
    kb,
    yOffset: full ? 0 : 16,
    yScale: full ? 1 : 255 / 219,
    rv: 2 * (1 - kr) * cScale,
    gu: ((2 * kb * (1 - kb)) / kg) * cScale,
    gv: ((2 * kr * (1 - kr)) / kg) * cScale,
    bu: 2 * (1 - kb) * cScale,
  };
}

/**
 * Y, Cb, Cr samples of a frame of `depth` (frame samples per 8-bit step: 1 for 8 bit, 4 for 10 bit) →
 * RGB on the 8-bit scale (to be clamped): luma = Y·yMul + yAdd, Cb′ = Cb·cMul − 128,
 * Cr′ = Cr·cMul − 128, then R = luma + rv·Cr′, G = luma − gu·Cb′ − gv·Cr′, B = luma + bu·Cb′.
 */
export interface YuvToRgbCoefficients {
  yMul: number;
  yAdd: number;
  cMul: number;
  rv: number;
  gu: number;
  gv: number;
  bu: number;
}

export function yuvToRgbCoefficients(colour: VideoColour, depth: number): YuvToRgbCoefficients {
  const { yOffset, yScale, rv, gu, gv, bu } = matrix(colour);
  const cMul = 1 / depth;
  return { yMul: yScale * cMul, yAdd: -yOffset * yScale, cMul, rv, gu, gv, bu };
}

/**
 * RGB (8-bit scale) → Y, Cb, Cr samples of a frame of `depth`, the inverse of yuvToRgbCoefficients
 * (to be rounded and clamped): luma = kr·R + kg·G + kb·B, Y = luma·yMul + yAdd,
 * Cb = (B − luma)·uMul + cAdd, Cr = (R − luma)·vMul + cAdd.
 */
export interface RgbToYuvCoefficients {
  kr: number;
  kg: number;
  kb: number;
  yMul: number;
  yAdd: number;
  uMul: number;
  vMul: number;
  cAdd: number;
}

export function rgbToYuvCoefficients(colour: VideoColour, depth: number): RgbToYuvCoefficients {
  const { kr, kg, kb, yOffset, yScale, rv, bu } = matrix(colour);
  return {
    kr,
    kg,
    kb,
    yMul: depth / yScale,
    yAdd: yOffset * depth,
    uMul: depth / bu,
    vMul: depth / rv,
    cAdd: 128 * depth,
  };
}
