import type { Command } from 'commander';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import { type InspectedFace, inspectFaces, roundedFace } from '../vision/inspect.js';
import {
  addDetectorOptions,
  addExecutionOptions,
  type DetectorFlags,
  detectorOptionsFromFlags,
  type ExecutionFlags,
  executionFromFlags,
} from './faceFlags.js';
import { addModelOptions } from './models.js';
import { collect, wholeNumber } from './options.js';

interface FacesFlags extends ModelFlags, DetectorFlags, ExecutionFlags {
  frame?: number;
  json?: boolean;
  source: string[];
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** `{"faces":[{"box","score","landmarks"[,"embeddingNorm"][,"distances"]}]}`, pixels to 0.01. */
export function facesJson(faces: InspectedFace[]): { faces: object[] } {
  return {
    faces: faces.map((face) => ({
      ...roundedFace(face),
      ...(face.embeddingNorm === undefined ? {} : { embeddingNorm: round(face.embeddingNorm, 4) }),
      ...(face.distances === undefined ? {} : { distances: face.distances.map((d) => round(d, 4)) }),
    })),
  };
}

/** One line per face: box, score and, with sources, the distance to each. */
export function facesText(faces: InspectedFace[]): string {
  if (faces.length === 0) return 'no faces found\n';
  return faces
    .map(({ box, score, distances }, i) => {
      const corners = box.map((v) => Math.round(v)).join(',');
      const to = distances ? `  distances ${distances.map((d) => d.toFixed(3)).join(',')}` : '';
      return `face ${i + 1}  box ${corners}  score ${score.toFixed(3)}${to}\n`;
    })
    .join('');
}

export function registerFaces(program: Command): void {
  addExecutionOptions(
    addDetectorOptions(
      addModelOptions(
        program
          .command('faces <image-or-video>')
          .description(
            'show the faces found in an image or a video frame, to check a source before a long job',
          ),
      ),
    ),
  )
    .option('--frame <n>', 'video frame to inspect, from 0 (default: 0)', wholeNumber)
    .option('--json', "print JSON, with each face's landmarks, embedding norm and distances")
    .option(
      '-s, --source <image>',
      'source face image to compare with (repeatable); distances are (1 - cosine) / 2, as --reference-face-distance',
      collect,
      [],
    )
    .action(async (input: string, flags: FacesFlags) => {
      const faces = await inspectFaces({
        input,
        frame: flags.frame,
        detector: detectorOptionsFromFlags(flags),
        sources: flags.source,
        models: await resolveModelSettings(flags),
        execution: executionFromFlags(flags),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(facesJson(faces))}\n` : facesText(faces));
    });
}
