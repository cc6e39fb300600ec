/** Packed 8-bit RGB, row after row, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}
