/** `frame_enhancer`'s options (FaceFusion's `--frame-enhancer-*`), under `face.frameEnhancer`. */
export interface FrameEnhancerOptions {
  model: string;
  /** `--frame-enhancer-blend`, 0–100. */
  blend: number;
}
