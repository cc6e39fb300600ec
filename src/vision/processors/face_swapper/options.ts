/** `face_swapper`'s options (FaceFusion's `--face-swapper-*`), under `face.swapper`. */
export interface SwapperOptions {
  model: string;
  /** `--face-swapper-pixel-boost`, e.g. `512x512`; the model's native size when absent. */
  pixelBoost?: string;
  /**
   * `--face-swapper-weight`, 0–1: the source identity's strength against the target face's. 0 mixes 35 % of
   * the target face's embedding in, 0.5 (the default) leaves the source as it is, 1 pushes 35 % away from
   * it. Models that take the source image (blendswap, uniface) ignore it, as in FaceFusion.
   */
  weight: number;
}
