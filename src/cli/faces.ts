import { type Command, InvalidArgumentError } from 'commander';
import { type ModelFlags, resolveModelSettings } from '../models/settings.js';
import { DETECTOR_NAMES } from '../vision/detectors/registry.js';
import { type InspectedFace, inspectFaces } from '../vision/inspect.js';
import { addModelOptions } from './models.js';
import { collect } from './options.js';

interface FacesFlags extends ModelFlags {
  frame?: number;
  json?: boolean;
  faceDetectorModel: string;
  faceDetectorSize: string;
  faceDetectorScore: number;
  source: string[];
}

function frameIndex(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return n;
}

function unitScore(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be between 0 and 1');
  return n;
}

const round = (value: number, digits: number) => Number(value.toFixed(digits));

/** `{"faces":[{"box","score","landmarks"[,"embeddingNorm"][,"distances"]}]}`, pixels to 0.01. */
export function facesJson(faces: InspectedFace[]): { faces: object[] } {
  return {
    faces: faces.map(({ box, score, landmarks, embeddingNorm, distances }) => ({
      box: box.map((v) => round(v, 2)),
      score: round(score, 4),
      landmarks: landmarks.map(([x, y]) => [round(x, 2), round(y, 2)]),
      ...(embeddingNorm === undefined ? {} : { embeddingNorm: round(embeddingNorm, 4) }),
      ...(distances === undefined ? {} : { distances: distances.map((d) => round(d, 4)) }),
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
  addModelOptions(
    program
      .command('faces <image-or-video>')
      .description('show the faces found in an image or a video frame, to check a source before a long job'),
  )
    .option('--frame <n>', 'video frame to inspect, from 0 (default: 0)', frameIndex)
    .option('--json', "print JSON, with each face's landmarks, embedding norm and distances")
    .option('--face-detector-model <name>', `face detector: ${DETECTOR_NAMES.join(', ')}`, 'yunet')
    .option('--face-detector-size <WxH>', 'detector input size', '640x640')
    .option('--face-detector-score <score>', 'minimum detection score, 0 to 1', unitScore, 0.5)
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
        detector: {
          model: flags.faceDetectorModel,
          size: flags.faceDetectorSize,
          minScore: flags.faceDetectorScore,
        },
        sources: flags.source,
        models: await resolveModelSettings(flags),
      });
      process.stdout.write(flags.json ? `${JSON.stringify(facesJson(faces))}\n` : facesText(faces));
    });
}
