/** `face_enhancer`'s options (FaceFusion's `--face-enhancer-*`), under `face.enhancer`. */
export interface EnhancerOptions {
  model: string;
  /** `--face-enhancer-blend`, 0–100. */
  blend: number;
  /** `--face-enhancer-weight`, 0–1 (codeformer). */
  weight: number;
}
