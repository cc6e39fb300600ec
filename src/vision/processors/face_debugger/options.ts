import { UserError } from '../../../core/errors.js';

/** What `--face-debugger-items` can draw, FaceFusion 3.8.1's names. */
export const FACE_DEBUGGER_ITEMS = [
  'bounding-box',
  'face-landmark-5',
  'face-landmark-5/68',
  'face-landmark-68',
  'face-landmark-68/5',
  'face-mask',
] as const;

export type FaceDebuggerItem = (typeof FACE_DEBUGGER_ITEMS)[number];

/** `face_debugger`'s options (FaceFusion's `--face-debugger-items`), under `face.debugger`. */
export interface DebuggerOptions {
  items: string[];
}

/** The items, checked against FaceFusion's names. */
export function checkDebuggerItems({ items }: DebuggerOptions): FaceDebuggerItem[] {
  for (const item of items) {
    if (!(FACE_DEBUGGER_ITEMS as readonly string[]).includes(item)) {
      throw new UserError(
        `unknown face debugger item "${item}" (available: ${FACE_DEBUGGER_ITEMS.join(', ')})`,
      );
    }
  }
  return items as FaceDebuggerItem[];
}

/**
 * Whether drawing these items needs fan_68_5's 68 points estimated from the 5: FaceFusion's `68/5` set,
 * its `68` set when the landmarker is off, and the face's angle (the bounding box's marked side).
 */
export const needsFan68 = (items: readonly string[]) =>
  items.some(
    (item) => item === 'bounding-box' || item === 'face-landmark-68' || item === 'face-landmark-68/5',
  );
