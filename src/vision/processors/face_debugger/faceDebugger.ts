import { cropMask, maybeOccluder, SwappedFaceMasks } from '../../cropMask.js';
import type { Point } from '../../detectors/detector.js';
import { type FaceAnalyser, usesLandmarker } from '../../faceAnalyser.js';
import { faceAngle } from '../../faceAngle.js';
import { type Fan68From5, loadFan68From5 } from '../../fan68.js';
import type { AnalysedFace, Frame } from '../../frame.js';
import { alignFromFrame, roundHalfEven } from '../../frameImage.js';
import { boxMask } from '../../masks.js';
import type { FaceOccluder } from '../../occluder.js';
import type { Processor, SharedModels } from '../../processor.js';
import type { ProcessorOptions } from '../../processorOptions.js';
import type { LoadedOptions } from '../descriptor.js';
import { faceMaskOutline } from './faceMaskOutline.js';
import { checkDebuggerItems, type DebuggerOptions, type FaceDebuggerItem, needsFan68 } from './options.js';
import { Overlay, type Rgb } from './overlay.js';

const RED: Rgb = [255, 0, 0];
const LIGHT_RED: Rgb = [255, 100, 100];
const GREEN: Rgb = [0, 255, 0];
const CYAN: Rgb = [0, 255, 255];
/** FaceFusion's crop for the debugger's mask outline: arcface_128 at 512 pixels. */
const MASK_CROP = 512;

/** FaceFusion's calculate_scale: the line width and point radius, frame height / 270 rounded, 1 to 10. */
export function debugScale(height: number): number {
  return Math.max(1, Math.min(10, roundHalfEven(height / 270)));
}

/** FaceFusion's four landmark sets of a face (face_creator.create_faces). */
interface LandmarkSet {
  /** The detector's. */
  five: Point[];
  /** The landmarker's 5 when confident, else the detector's. */
  fiveFrom68: Point[];
  /** The landmarker's 68, or fan_68_5's estimate when it is off. */
  sixtyEight?: Point[];
  /** fan_68_5's estimate from the detector's 5. */
  sixtyEightFrom5?: Point[];
}

/**
 * `face_debugger` (FaceFusion's face_debugger/core.py, debug_face): on each selected face, in this
 * order, the bounding box (red, the side the face's top points to in light red and one pixel wider),
 * the outline of the face mask of `--face-mask-types` (green; cyan when the landmarker's 5 points were
 * not used), and filled points for the 5 (red), 5/68 and 68 (green, or cyan when they equal the
 * estimated ones) and 68/5 (cyan) landmarks; line width and point radius grow with the frame height.
 */
export class FaceDebuggerProcessor implements Processor<LoadedOptions<'debugger', DebuggerOptions>> {
  readonly name = 'face_debugger';
  private items!: ReadonlySet<FaceDebuggerItem>;
  private analyser!: FaceAnalyser;
  private fan68: Fan68From5 | undefined;
  private occluder: FaceOccluder | undefined;
  private masks: SwappedFaceMasks | undefined;
  private box: Float32Array | undefined;
  private landmarker = false;
  private readonly overlay = new Overlay();

  async load(
    options: ProcessorOptions<LoadedOptions<'debugger', DebuggerOptions>>,
    shared: SharedModels,
  ): Promise<void> {
    const items = checkDebuggerItems(options.face.debugger);
    this.items = new Set(items);
    this.landmarker = usesLandmarker(options.face);
    this.analyser = await shared.faceAnalyser();
    if (needsFan68(items)) this.fan68 = await loadFan68From5(options.models, options.execution);
    if (this.items.has('face-mask')) {
      const { mask } = options.face;
      this.box = mask.types.includes('box') ? boxMask(MASK_CROP, 0, mask.padding) : undefined;
      this.occluder = await maybeOccluder(mask.types, options);
      this.masks = await SwappedFaceMasks.load(options);
    }
  }

  async process(frame: Frame): Promise<Frame> {
    const faces = await this.analyser.selectFaces(frame);
    for (const face of faces) await this.debugFace(frame, face);
    return frame;
  }

  private async landmarkSet(face: AnalysedFace): Promise<LandmarkSet> {
    const five = face.detectorLandmarks ?? face.landmarks;
    const sixtyEightFrom5 = this.fan68 ? await this.fan68.estimate(five) : undefined;
    return {
      five,
      fiveFrom68: face.landmarks,
      sixtyEight: face.landmarks68 ?? sixtyEightFrom5,
      sixtyEightFrom5,
    };
  }

  private async debugFace(frame: Frame, face: AnalysedFace): Promise<void> {
    const set = await this.landmarkSet(face);
    const scale = debugScale(frame.height);
    const overlay = this.overlay;
    overlay.reset(frame.width, frame.height);
    const fiveIsDetectors = !face.detectorLandmarks;
    if (this.items.has('bounding-box')) this.drawBox(face, set, scale);
    // The mask is taken from the frame as drawn so far, as FaceFusion's is.
    if (this.items.has('face-mask')) {
      overlay.paint(frame);
      overlay.reset(frame.width, frame.height);
      await this.drawMask(frame, set, scale, fiveIsDetectors ? CYAN : GREEN);
    }
    const sixtyEightIsEstimated = !this.landmarker;
    const points = (item: FaceDebuggerItem, landmarks: Point[] | undefined, colour: Rgb) => {
      if (!this.items.has(item) || !landmarks) return;
      for (const [x, y] of landmarks) overlay.disc([Math.trunc(x), Math.trunc(y)], scale, colour);
    };
    points('face-landmark-5', set.five, RED);
    points('face-landmark-5/68', set.fiveFrom68, fiveIsDetectors ? CYAN : GREEN);
    points('face-landmark-68', set.sixtyEight, sixtyEightIsEstimated ? CYAN : GREEN);
    points('face-landmark-68/5', set.sixtyEightFrom5, CYAN);
    overlay.paint(frame);
  }

  private drawBox(face: AnalysedFace, set: LandmarkSet, scale: number): void {
    const [x1, y1, x2, y2] = face.box.map(Math.trunc);
    this.overlay.rectangle(x1, y1, x2, y2, scale, RED);
    const side: Record<number, [Point, Point]> = {
      0: [
        [x1, y1],
        [x2, y1],
      ],
      90: [
        [x2, y1],
        [x2, y2],
      ],
      180: [
        [x1, y2],
        [x2, y2],
      ],
      270: [
        [x1, y1],
        [x1, y2],
      ],
    };
    const [from, to] = side[set.sixtyEightFrom5 ? faceAngle(set.sixtyEightFrom5) : 0];
    this.overlay.line(from, to, scale + 1, LIGHT_RED);
  }

  private async drawMask(frame: Frame, set: LandmarkSet, scale: number, colour: Rgb): Promise<void> {
    const { crop, matrix } = alignFromFrame(frame, set.fiveFrom68, 'arcface_128', MASK_CROP);
    const before = await cropMask(crop, this.box, this.occluder);
    const mask = await this.masks!.combine(before, crop, matrix, set.sixtyEight);
    const outline = faceMaskOutline(mask, MASK_CROP, matrix, frame.width, frame.height);
    if (!outline) return;
    this.overlay.outline(outline.inside, outline.width, outline.height, outline.x, outline.y, scale, colour);
  }

  async dispose(): Promise<void> {
    await this.fan68?.dispose();
    await this.occluder?.dispose();
    await this.masks?.dispose();
  }
}
