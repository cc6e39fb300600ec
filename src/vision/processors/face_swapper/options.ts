/** `face_swapper`'s options (FaceFusion's `--face-swapper-*`), under `face.swapper`. */
export interface SwapperOptions {
  model: string;
  /** `--face-swapper-pixel-boost`, e.g. `512x512`; the model's native size when absent. */
  pixelBoost?: string;
}
