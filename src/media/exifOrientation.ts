import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBinaries } from './binaries.js';
import { MediaError } from './errors.js';
import { runTool } from './ffmpegProcess.js';
import { inputName } from './inputName.js';
import { confinedInputArgs } from './inputSafety.js';

/**
 * Input options for a still image: ffmpeg 5 and later turn a JPEG by its EXIF orientation themselves
 * (older builds do not, and take the option all the same), so that spotfuse can do it the same way
 * whatever the build. Whether this build honours it is asked, not assumed: see `uprightFilter`.
 */
export const IMAGE_INPUT_ARGS = ['-noautorotate'];

/** The filter that turns a stored image upright for each EXIF orientation (2–8). */
const ORIENTATION_FILTERS: Record<number, string> = {
  2: 'hflip',
  3: 'hflip,vflip',
  4: 'vflip',
  5: 'transpose=0',
  6: 'transpose=1',
  7: 'transpose=3',
  8: 'transpose=2',
};

/** Orientations 5–8 swap width and height. */
export const swapsSides = (orientation: number) => orientation >= 5 && orientation <= 8;

/** The EXIF orientation (1–8) of a still image, read with ffprobe; 1 when it has none. */
export async function exifOrientation(path: string): Promise<number> {
  const { ffprobe } = resolveBinaries();
  const args = ['-v', 'error', '-select_streams', 'v:0', '-read_intervals', '%+#1'];
  args.push(
    '-show_entries',
    'frame_tags=Orientation',
    '-of',
    'csv=p=0',
    ...confinedInputArgs(path, 'image'),
    path,
  );
  const out = await runTool(ffprobe, args, { failure: `cannot read image ${inputName(path)}` });
  const orientation = Number.parseInt(out.toString().trim(), 10);
  return orientation >= 1 && orientation <= 8 ? orientation : 1;
}

/** `jpeg` with a big-endian EXIF APP1 segment holding only the Orientation tag, right after SOI. */
export function withExifOrientation(jpeg: Buffer, orientation: number): Buffer {
  if (jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw new RangeError('not a JPEG: no start-of-image marker');
  const tiff = Buffer.alloc(26);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2); // TIFF magic
  tiff.writeUInt32BE(8, 4); // offset of IFD0
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // one value
  tiff.writeUInt16BE(orientation, 18); // the value, left-justified in the 4-byte field; then no next IFD
  const header = Buffer.from([0xff, 0xe1, 0, 0, ...Buffer.from('Exif\0\0', 'latin1')]);
  header.writeUInt16BE(2 + 6 + tiff.length, 2);
  return Buffer.concat([jpeg.subarray(0, 2), header, tiff, jpeg.subarray(2)]);
}

// The calibration picture: 32x16, white in its top-left 16x8 quarter, black elsewhere. Where the
// white quarter lands, and the decoded size, tell every one of the eight orientations apart.
const PROBE_W = 32;
const PROBE_H = 16;
type Corner = 'TL' | 'TR' | 'BL' | 'BR';
/** Size and white corner of the calibration picture once upright, per orientation. */
const UPRIGHT: Record<number, { wide: boolean; corner: Corner }> = {
  1: { wide: true, corner: 'TL' },
  2: { wide: true, corner: 'TR' },
  3: { wide: true, corner: 'BR' },
  4: { wide: true, corner: 'BL' },
  5: { wide: false, corner: 'TL' },
  6: { wide: false, corner: 'TR' },
  7: { wide: false, corner: 'BR' },
  8: { wide: false, corner: 'BL' },
};

let probeJpeg: Promise<Buffer> | undefined;
const turnedByFfmpeg = new Map<number, Promise<boolean>>();

/**
 * The filter that still has to turn an image with this EXIF orientation upright after ffmpeg has
 * decoded it with `IMAGE_INPUT_ARGS`; undefined when none is needed. Once per process and orientation,
 * ffmpeg decodes a tiny JPEG tagged with it, and the result says whether it left the picture as stored
 * (spotfuse turns it) or turned it upright itself (spotfuse leaves it).
 */
export async function uprightFilter(orientation: number): Promise<string | undefined> {
  const filter = ORIENTATION_FILTERS[orientation];
  if (!filter) return undefined;
  let turned = turnedByFfmpeg.get(orientation);
  if (!turned) {
    turned = ffmpegTurnsUpright(orientation);
    turnedByFfmpeg.set(orientation, turned);
    // A failed calibration is not remembered: the next image asks again.
    turned.catch(() => turnedByFfmpeg.delete(orientation));
  }
  return (await turned) ? undefined : filter;
}

/**
 * Whether ffmpeg, opening a JPEG tagged with this orientation with `inputArgs`, turns it upright itself
 * (true) or leaves it as stored (false); a MediaError if it does anything else.
 */
export async function ffmpegTurnsUpright(
  orientation: number,
  inputArgs: string[] = IMAGE_INPUT_ARGS,
): Promise<boolean> {
  const { ffmpeg } = resolveBinaries();
  probeJpeg ??= runTool(
    ffmpeg,
    [
      ...['-nostdin', '-v', 'error', '-f', 'lavfi'],
      ...['-i', `color=c=white:s=${PROBE_W / 2}x${PROBE_H / 2},pad=${PROBE_W}:${PROBE_H}:0:0:black`],
      ...['-frames:v', '1', '-q:v', '2', '-f', 'mjpeg', 'pipe:1'],
    ],
    { failure: 'cannot make a test JPEG with ffmpeg' },
  );
  probeJpeg.catch(() => {
    probeJpeg = undefined;
  });
  const dir = await mkdtemp(join(tmpdir(), 'spotfuse-exif-'));
  try {
    const path = join(dir, `orientation-${orientation}.jpg`);
    await writeFile(path, withExifOrientation(await probeJpeg, orientation));
    const pgm = await runTool(
      ffmpeg,
      [
        ...['-nostdin', '-v', 'error', ...inputArgs, '-i', path],
        ...['-frames:v', '1', '-f', 'image2pipe', '-c:v', 'pgm', 'pipe:1'],
      ],
      { failure: 'cannot decode a test JPEG with ffmpeg' },
    );
    const seen = readLayout(pgm);
    const upright = UPRIGHT[orientation];
    if (seen.wide && seen.corner === 'TL') return false;
    if (seen.wide === upright.wide && seen.corner === upright.corner) return true;
    throw new MediaError(
      `this ffmpeg turns JPEGs with EXIF orientation ${orientation} in a way spotfuse does not know`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Whether a decoded calibration picture is wider than tall, and which corner is white. */
function readLayout(pgm: Buffer): { wide: boolean; corner: Corner } {
  const header = /^P5\s+(\d+)\s+(\d+)\s+255\s/.exec(pgm.subarray(0, 32).toString('latin1'));
  if (!header) throw new MediaError('cannot decode a test JPEG with ffmpeg: unexpected output');
  const [width, height] = [Number(header[1]), Number(header[2])];
  const pixels = pgm.subarray(header[0].length);
  const at = (x: number, y: number) => pixels[Math.floor(y) * width + Math.floor(x)];
  const corners: Corner[] = ['TL', 'TR', 'BL', 'BR'];
  const centres = [
    [width / 4, height / 4],
    [(3 * width) / 4, height / 4],
    [width / 4, (3 * height) / 4],
    [(3 * width) / 4, (3 * height) / 4],
  ];
  const brightest = centres
    .map(([x, y]) => at(x, y))
    .reduce((best, v, i, all) => (v > all[best] ? i : best), 0);
  return { wide: width > height, corner: corners[brightest] };
}
