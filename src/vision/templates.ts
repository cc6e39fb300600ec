import type { Point } from './detectors/detector.js';

/**
 * FaceFusion's 5-point warp templates (left eye, right eye, nose, mouth corners), normalised to a
 * unit square; multiplied by the crop size they give the target landmarks.
 */
export const WARP_TEMPLATES = {
  arcface_112_v1: [
    [0.35473214, 0.45658929],
    [0.64526786, 0.45658929],
    [0.5, 0.61154464],
    [0.37913393, 0.776875],
    [0.62086607, 0.776875],
  ],
  arcface_112_v2: [
    [0.34191607, 0.46157411],
    [0.65653393, 0.45983393],
    [0.500225, 0.64050536],
    [0.37097589, 0.82469196],
    [0.63151696, 0.82325089],
  ],
  arcface_128: [
    [0.36167656, 0.40387734],
    [0.63696719, 0.40235469],
    [0.50019687, 0.56044219],
    [0.38710391, 0.72160547],
    [0.61507734, 0.72034453],
  ],
  ffhq_512: [
    [0.37691676, 0.46864664],
    [0.62285697, 0.46912813],
    [0.50123859, 0.61331904],
    [0.39308822, 0.725411],
    [0.61150205, 0.72490465],
  ],
  mtcnn_512: [
    [0.36562865, 0.46733799],
    [0.63305391, 0.46585885],
    [0.50019127, 0.61942959],
    [0.39032951, 0.77598822],
    [0.61178945, 0.77476328],
  ],
} as const satisfies Record<string, readonly (readonly [number, number])[]>;

export type WarpTemplate = keyof typeof WARP_TEMPLATES;

/** The template's landmarks in pixels of a `size`×`size` crop. */
export function templatePoints(template: WarpTemplate, size: number): Point[] {
  return WARP_TEMPLATES[template].map(([x, y]) => [x * size, y * size]);
}
