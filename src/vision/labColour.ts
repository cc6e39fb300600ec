/**
 * OpenCV's 8-bit sRGB ↔ CIE Lab (cv2.cvtColor with COLOR_RGB2Lab and COLOR_Lab2RGB on uint8 pixels), value
 * for value: its fixed-point tables and rounding (imgproc/src/color_lab.cpp, RGB2Lab_b and the bit-exact
 * Lab2RGBinteger), not the textbook formulas, so that a round trip loses what OpenCV's loses. L is scaled to
 * 0–255, a and b are offset by 128.
 */

import { roundHalfEven } from './frameImage.js';

const f = Math.fround;

/** The IEEE double with these bits (OpenCV writes its constants as raw softdouble bits). */
function fromRaw(bits: bigint): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, bits);
  return view.getFloat64(0);
}

const SRGB_TO_XYZ = [
  0x3fda65a14488c60dn,
  0x3fd6e297396d0918n,
  0x3fc71819d2391d58n,
  0x3fcb38cda6e75ff6n,
  0x3fe6e297396d0918n,
  0x3fb279aae6c8f755n,
  0x3f93cc4ac6cdaf4bn,
  0x3fbe836eb4e98138n,
  0x3fee68427418d691n,
].map(fromRaw);
const XYZ_TO_SRGB = [
  0x4009ec804102ff8fn,
  0xbff8982a9930be0en,
  0xbfdfe7ff583a53b9n,
  0xbfef042528ae74f3n,
  0x3ffe040f23897204n,
  0x3fa546d3f9e7b80bn,
  0x3fac7de5082cf52cn,
  0xbfca1e14bdfd2631n,
  0x3ff0eabef06b3786n,
].map(fromRaw);
const D65 = [fromRaw(0x3fee6a22b3892ee8n), 1, fromRaw(0x3ff16b8950763a19n)];

const LAB_SHIFT = 12;
const GAMMA_SHIFT = 3;
const LAB_SHIFT2 = LAB_SHIFT + GAMMA_SHIFT;
const CBRT_TABLE_SIZE = ((256 * 3) / 2) * (1 << GAMMA_SHIFT);
const INV_GAMMA_SHIFT = 12;
const INV_GAMMA_TABLE_SIZE = 1 << INV_GAMMA_SHIFT;
const BASE_SHIFT = 14;
const BASE = 1 << BASE_SHIFT;
const MIN_AB = -8145;

/** CV_DESCALE: divide by 2^n, halves up, on int32 as C computes it. */
const descale = (value: number, n: number) => ((value | 0) + (1 << (n - 1))) >> n;

interface LabTables {
  gamma: Uint16Array;
  invGamma: Uint16Array;
  cbrt: Uint16Array;
  lToYf: Int32Array;
  abToXz: Int32Array;
  toLab: number[];
  toRgb: number[];
}

let tables: LabTables | undefined;

function labTables(): LabTables {
  if (tables) return tables;
  const lthresh = f(f(216) / f(24389));
  const lscale = f(f(841) / f(108));
  const lbias = f(f(16) / f(116));
  const applyGamma = (x: number) =>
    f(x <= 809 / 20000 ? x / (323 / 25) : ((x + 11 / 200) / (1 + 11 / 200)) ** (12 / 5));
  const applyInvGamma = (x: number) =>
    f(x <= 7827 / 2500000 ? x * (323 / 25) : x ** (1 / (12 / 5)) * (1 + 11 / 200) - 11 / 200);

  const gamma = new Uint16Array(256);
  for (let i = 0; i < 256; i++)
    gamma[i] = roundHalfEven(f(f(255 * (1 << GAMMA_SHIFT)) * applyGamma(f(f(i) / f(255)))));
  const invGamma = new Uint16Array(INV_GAMMA_TABLE_SIZE);
  const invScale = f(1 / INV_GAMMA_TABLE_SIZE);
  for (let i = 0; i < INV_GAMMA_TABLE_SIZE; i++)
    invGamma[i] = roundHalfEven(f(f(255) * applyInvGamma(f(invScale * i))));
  const cbrt = new Uint16Array(CBRT_TABLE_SIZE);
  const cbrtScale = f(1 / f(255 * (1 << GAMMA_SHIFT)));
  for (let i = 0; i < CBRT_TABLE_SIZE; i++) {
    const x = f(cbrtScale * i);
    // softfloat's mulAdd rounds once, as a fused multiply-add: exact in double before the float rounding.
    const fx = x < lthresh ? f(x * lscale + lbias) : cubeRoot(x);
    cbrt[i] = roundHalfEven(f((1 << LAB_SHIFT2) * fx));
  }
  const lToYf = new Int32Array(512);
  for (let i = 0; i < 256; i++) {
    let y: number;
    let ify: number;
    if (i <= 20) {
      y = roundHalfEven(f(f(i * BASE * 20 * 9) / f(17 * 29 * 29 * 29)));
      ify = roundHalfEven(f(f(BASE) * f(f(f(16) / f(116)) + f(f(i * 5) / f(3 * 17 * 29)))));
    } else {
      const fy = f(f(f(i * 100 * BASE) / f(255 * 116)) + f(f(16 * BASE) / f(116)));
      ify = roundHalfEven(fy);
      y = roundHalfEven(f(f(f(fy * fy) * fy) / f(BASE * BASE)));
    }
    lToYf[i * 2] = y;
    lToYf[i * 2 + 1] = ify;
  }
  const abToXz = new Int32Array((BASE * 9) / 4);
  for (let i = MIN_AB; i < (BASE * 9) / 4 + MIN_AB; i++) {
    abToXz[i - MIN_AB] =
      i <= 3390
        ? Math.trunc((i * 108) / 841) - Math.trunc((Math.trunc((BASE * 16) / 116) * 108) / 841)
        : Math.trunc((Math.trunc((i * i) / BASE) * i) / BASE);
  }
  const lshift = 1 << LAB_SHIFT;
  // Rows X, Y, Z over R, G, B, divided by the white point (RGB2Lab_b); rows R, G, B over X, Y, Z times it.
  const toLab = SRGB_TO_XYZ.map((c, k) => roundHalfEven((lshift * c) / D65[Math.floor(k / 3)]));
  const toRgb = XYZ_TO_SRGB.map((c, k) => roundHalfEven(lshift * c * D65[k % 3]));
  tables = { gamma, invGamma, cbrt, lToYf, abToXz, toLab, toRgb };
  return tables;
}

/** Packed RGB → packed Lab (`from` and `to` may be the same array). */
export function rgbToLab(from: Uint8Array, to: Uint8Array): void {
  const { gamma, cbrt, toLab: c } = labTables();
  const lScale = Math.trunc((116 * 255 + 50) / 100);
  const lShift = -Math.trunc((16 * 255 * (1 << LAB_SHIFT2) + 50) / 100);
  const half = 128 * (1 << LAB_SHIFT2);
  for (let i = 0; i < from.length; i += 3) {
    const r = gamma[from[i]];
    const g = gamma[from[i + 1]];
    const b = gamma[from[i + 2]];
    const fx = cbrt[descale(r * c[0] + g * c[1] + b * c[2], LAB_SHIFT)];
    const fy = cbrt[descale(r * c[3] + g * c[4] + b * c[5], LAB_SHIFT)];
    const fz = cbrt[descale(r * c[6] + g * c[7] + b * c[8], LAB_SHIFT)];
    to[i] = clampByte(descale(lScale * fy + lShift, LAB_SHIFT2));
    to[i + 1] = clampByte(descale(500 * (fx - fy) + half, LAB_SHIFT2));
    to[i + 2] = clampByte(descale(200 * (fy - fz) + half, LAB_SHIFT2));
  }
}

/** Packed Lab → packed RGB (`from` and `to` may be the same array). */
export function labToRgb(from: Uint8Array, to: Uint8Array): void {
  const { invGamma, lToYf, abToXz, toRgb: c } = labTables();
  const shift = LAB_SHIFT + (BASE_SHIFT - INV_GAMMA_SHIFT);
  const aOffset = Math.trunc((128 * BASE) / 500);
  const bOffset = Math.trunc((128 * BASE) / 200) - 1;
  const top = INV_GAMMA_TABLE_SIZE - 1;
  for (let i = 0; i < from.length; i += 3) {
    const l = from[i];
    const y = lToYf[l * 2];
    const ify = lToYf[l * 2 + 1];
    // OpenCV's approximations of a·BASE/500 and b·BASE/200.
    const aDiv = ((5 * from[i + 1] * 53687 + (1 << 7)) >> 13) - aOffset;
    const bDiv = ((from[i + 2] * 41943 + (1 << 4)) >> 9) - bOffset;
    const x = abToXz[ify + aDiv - MIN_AB];
    const z = abToXz[ify - bDiv - MIN_AB];
    for (let ch = 0; ch < 3; ch++) {
      const sum = Math.imul(c[ch * 3], x) + Math.imul(c[ch * 3 + 1], y) + Math.imul(c[ch * 3 + 2], z);
      to[i + ch] = invGamma[Math.max(0, Math.min(top, descale(sum, shift)))];
    }
  }
}

/**
 * softfloat's cbrt: Turkowski's quartic rational polynomial of the mantissa in double, truncated to a float's
 * 24 bits and scaled by the exponent's third; at times a float below the nearest one to the cube root.
 */
function cubeRoot(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  const bits = view.getUint32(0);
  let exponent = (bits >>> 23) - 127;
  let shift = exponent % 3;
  shift -= shift >= 0 ? 3 : 0;
  exponent = (exponent - shift) / 3;
  view.setUint32(0, (bits & 0x7fffff) | ((shift + 127) << 23));
  const fr = view.getFloat32(0);
  // Turkowski's coefficients, as the doubles OpenCV's decimal constants round to.
  const numerator =
    (((45.2548339756803 * fr + 192.2798368355061) * fr + 119.16548242855816) * fr + 13.432501390862399) * fr;
  const denominator =
    (((14.808840932191346 * fr + 151.97140510444356) * fr + 168.52544141015682) * fr + 33.99059413502156) *
    fr;
  const root = (numerator + 0.16361612265857542) / (denominator + 1);
  // The root (in [0.5, 1)) keeps the first 24 bits of its double: truncated, not rounded.
  return (Math.floor(root * 2 ** 24) / 2 ** 24) * 2 ** exponent;
}

const clampByte = (value: number) => Math.min(255, Math.max(0, value));
