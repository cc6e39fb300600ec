export const MODEL_ROLES = [
  'face_detector',
  'face_landmarker',
  'face_recognizer',
  'face_occluder',
  'face_parser',
  'face_classifier',
  'face_swapper',
  'embedding_converter',
  'face_enhancer',
  'frame_enhancer',
] as const;

export type ModelRole = (typeof MODEL_ROLES)[number];

export interface ModelEntry {
  name: string;
  /** File name inside the model directory. */
  file: string;
  role: ModelRole;
  url: string;
  /**
   * Pinned SHA-256 (lowercase hex). Built-in entries have none: their real digests could not be
   * established when this table was written, so they are checked against FaceFusion's own CRC32
   * `.hash` file on first download and the SHA-256 of what passed is recorded in the model
   * directory (trust on first use; see lockFile.ts). Manifest entries always pin one.
   */
  sha256?: string;
  /** Size in bytes where known: shown by `models list` and checked before hashing. */
  size?: number;
  /** A published approximate size in bytes, shown where the exact size is not known; never checked. */
  approxSize?: number;
  /** The weights' licence as FaceFusion's catalogue states it (`Non-Commercial`, `Apache-2.0`, …). */
  license?: string;
}

/**
 * Licences that forbid commercial use: InsightFace's models (inswapper, arcface, scrfd, retinaface) and
 * others FaceFusion marks `Non-Commercial`, CodeFormer's S-Lab licence, and the research-only RAIL.
 */
const NON_COMMERCIAL = new Set(['Non-Commercial', 'S-Lab-1.0', 'ResearchRAIL']);

export function isNonCommercial(entry: Pick<ModelEntry, 'license'>): boolean {
  return entry.license !== undefined && NON_COMMERCIAL.has(entry.license);
}

/**
 * FaceFusion's asset release, one per models-X.Y.Z version. `{version}` is replaced by the model's
 * release; a base URL without it (a flat mirror) gets every file directly under it.
 */
export const DEFAULT_MODEL_BASE_URL =
  'https://github.com/facefusion/facefusion-assets/releases/download/models-{version}';

interface BuiltinModel {
  name: string;
  role: ModelRole;
  /** The models-X.Y.Z release that ships the file (FaceFusion 3.8.1's `resolve_download_url` calls). */
  version: string;
  /** As FaceFusion 3.8.1's model set for it states it (`'license'`). */
  license: string;
  size?: number;
  approxSize?: number;
}

const MB = 1_000_000;

/** Built-in entries of one enhancer role: name, release, licence and an approximate size where published. */
function enhancers(
  role: 'face_enhancer' | 'frame_enhancer',
  models: [name: string, version: string, license: string, approxSize?: number][],
): BuiltinModel[] {
  return models.map(([name, version, license, approxSize]) => ({
    name,
    role,
    version,
    license,
    ...(approxSize ? { approxSize } : {}),
  }));
}

// Sizes: facefusion.md ("Sizes", public listings); the others are not known here.
const BUILTINS: BuiltinModel[] = [
  { name: 'yoloface_8n', role: 'face_detector', version: '3.0.0', license: 'GPL-3.0' },
  { name: 'scrfd_2.5g', role: 'face_detector', version: '3.0.0', license: 'Non-Commercial' },
  { name: 'retinaface_10g', role: 'face_detector', version: '3.0.0', license: 'Non-Commercial' },
  { name: 'yunet_2023_mar', role: 'face_detector', version: '3.4.0', license: 'MIT' },
  { name: '2dfan4', role: 'face_landmarker', version: '3.0.0', license: 'MIT' },
  { name: 'peppa_wutz', role: 'face_landmarker', version: '3.0.0', license: 'Apache-2.0' },
  { name: 'fan_68_5', role: 'face_landmarker', version: '3.0.0', license: 'OpenRAIL-M' },
  {
    name: 'arcface_w600k_r50',
    role: 'face_recognizer',
    version: '3.0.0',
    license: 'Non-Commercial',
    approxSize: 174 * MB,
  },
  { name: 'xseg_1', role: 'face_occluder', version: '3.1.0', license: 'GPL-3.0' },
  { name: 'xseg_2', role: 'face_occluder', version: '3.1.0', license: 'GPL-3.0' },
  { name: 'xseg_3', role: 'face_occluder', version: '3.2.0', license: 'GPL-3.0' },
  { name: 'bisenet_resnet_18', role: 'face_parser', version: '3.1.0', license: 'MIT' },
  { name: 'bisenet_resnet_34', role: 'face_parser', version: '3.0.0', license: 'MIT' },
  { name: 'fairface', role: 'face_classifier', version: '3.0.0', license: 'CC-BY-4.0' },
  {
    name: 'inswapper_128',
    role: 'face_swapper',
    version: '3.0.0',
    license: 'Non-Commercial',
    size: 554_253_681,
  },
  {
    name: 'inswapper_128_fp16',
    role: 'face_swapper',
    version: '3.0.0',
    license: 'Non-Commercial',
    approxSize: 277 * MB,
  },
  ...['a', 'b', 'c'].map(
    (variant): BuiltinModel => ({
      name: `hyperswap_1${variant}_256`,
      role: 'face_swapper',
      version: '3.3.0',
      license: 'ResearchRAIL',
      approxSize: 403 * MB,
    }),
  ),
  { name: 'blendswap_256', role: 'face_swapper', version: '3.0.0', license: 'Non-Commercial' },
  ...[1, 2, 3].map(
    (variant): BuiltinModel => ({
      name: `ghost_${variant}_256`,
      role: 'face_swapper',
      version: '3.0.0',
      license: 'Apache-2.0',
    }),
  ),
  { name: 'hififace_unofficial_256', role: 'face_swapper', version: '3.1.0', license: 'Unknown' },
  { name: 'simswap_256', role: 'face_swapper', version: '3.0.0', license: 'Non-Commercial' },
  { name: 'simswap_unofficial_512', role: 'face_swapper', version: '3.0.0', license: 'Non-Commercial' },
  { name: 'uniface_256', role: 'face_swapper', version: '3.0.0', license: 'Unknown' },
  // FaceFusion states one licence per swapper model set: each converter carries the licence of the set it
  // belongs to (crossface_simswap is shared by both simswap models).
  { name: 'crossface_ghost', role: 'embedding_converter', version: '3.4.0', license: 'Apache-2.0' },
  { name: 'crossface_hififace', role: 'embedding_converter', version: '3.4.0', license: 'Unknown' },
  { name: 'crossface_simswap', role: 'embedding_converter', version: '3.4.0', license: 'Non-Commercial' },
  ...enhancers('face_enhancer', [
    ['codeformer', '3.0.0', 'S-Lab-1.0'],
    ['gfpgan_1.2', '3.0.0', 'Apache-2.0'],
    ['gfpgan_1.3', '3.0.0', 'Apache-2.0'],
    ['gfpgan_1.4', '3.0.0', 'Apache-2.0', 340 * MB],
    ['gpen_bfr_256', '3.0.0', 'Non-Commercial'],
    ['gpen_bfr_512', '3.0.0', 'Non-Commercial'],
    ['gpen_bfr_1024', '3.0.0', 'Non-Commercial'],
    ['gpen_bfr_2048', '3.0.0', 'Non-Commercial'],
    ['restoreformer_plus_plus', '3.0.0', 'Apache-2.0'],
  ]),
  ...enhancers('frame_enhancer', [
    ['clear_reality_x4', '3.0.0', 'Non-Commercial'],
    ['face_dat_x4', '3.5.0', 'CC-BY-4.0'],
    ['nomos8k_sc_x4', '3.0.0', 'CC-BY-4.0'],
    ['real_esrgan_x2', '3.0.0', 'BSD-3-Clause'],
    ['real_esrgan_x2_fp16', '3.0.0', 'BSD-3-Clause'],
    ['real_esrgan_x4', '3.0.0', 'BSD-3-Clause'],
    ['real_esrgan_x4_fp16', '3.0.0', 'BSD-3-Clause'],
    ['real_esrgan_x8', '3.0.0', 'BSD-3-Clause'],
    ['real_esrgan_x8_fp16', '3.0.0', 'BSD-3-Clause'],
    ['real_hatgan_x4', '3.0.0', 'Apache-2.0'],
    ['real_web_photo_x4', '3.1.0', 'CC-BY-4.0'],
    ['realistic_rescaler_x4', '3.1.0', 'WTFPL'],
    ['remacri_x4', '3.1.0', 'Non-Commercial'],
    ['siax_x4', '3.1.0', 'WTFPL'],
    ['span_kendata_x4', '3.0.0', 'Non-Commercial'],
    ['swin2_sr_x4', '3.1.0', 'Apache-2.0'],
    ['tghq_face_x8', '3.5.0', 'GPL-3.0'],
    ['ultra_sharp_x4', '3.0.0', 'Non-Commercial'],
    ['ultra_sharp_2_x4', '3.3.0', 'Non-Commercial'],
  ]),
];

function modelUrl(baseUrl: string, version: string, file: string): string {
  return `${baseUrl.replaceAll('{version}', version).replace(/\/+$/, '')}/${file}`;
}

export function builtinModels(baseUrl = DEFAULT_MODEL_BASE_URL): ModelEntry[] {
  return BUILTINS.map(({ name, role, version, license, size, approxSize }) => {
    const file = `${name}.onnx`;
    return {
      name,
      file,
      role,
      url: modelUrl(baseUrl, version, file),
      license,
      ...(size ? { size } : {}),
      ...(approxSize ? { approxSize } : {}),
    };
  });
}
