import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { facesText, registerFaces } from '../../src/cli/faces.js';
import { withExifOrientation } from '../../src/media/exifOrientation.js';
import { ffmpeg } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';
import { bundledMissing, face, testdataMissing, writeTestdataManifest } from './testdata.js';

const dir = useTempDir();

/** Runs `spotfuse faces …` in-process and returns what it printed. */
async function faces(...args: string[]): Promise<string> {
  const program = new Command('spotfuse').exitOverride();
  registerFaces(program);
  let printed = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    printed += String(chunk);
    return true;
  });
  await program.parseAsync(['faces', ...args], { from: 'user' });
  return printed;
}

async function modelFlags(): Promise<string[]> {
  // yunet: the testdata has no yolo_face, FaceFusion's (and so the CLI's) default detector.
  return [
    '--model-dir',
    join(dir(), 'models'),
    '--model-manifest',
    await writeTestdataManifest(dir()),
    '--face-detector-model',
    'yunet',
  ];
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.skipIf(testdataMissing)('spotfuse faces', () => {
  it('prints box, score and landmarks of every face, plus the embedding norm', async () => {
    const out = JSON.parse(await faces(face('two_people.jpg'), '--json', ...(await modelFlags())));
    expect(out.faces).toHaveLength(2);
    for (const found of out.faces) {
      expect(Object.keys(found)).toEqual(['box', 'score', 'landmarks', 'embeddingNorm']);
      expect(found.box).toHaveLength(4);
      expect(found.score).toBeGreaterThan(0.5);
      expect(found.landmarks).toHaveLength(5);
      for (const point of found.landmarks) expect(point).toHaveLength(2);
      expect(found.embeddingNorm).toBeGreaterThan(0);
    }
  });

  it('gives the distance to each source face, small for the same person', async () => {
    const flags = await modelFlags();
    const sources = ['-s', face('obama2.jpg'), '-s', face('biden.jpg')];
    const out = JSON.parse(await faces(face('obama.jpg'), '--json', ...sources, ...flags));
    expect(out.faces).toHaveLength(1);
    const [same, other] = out.faces[0].distances;
    expect(same).toBeLessThan(0.3);
    expect(other).toBeGreaterThan(0.3);
  });

  it('prints one line per face without --json, with scrfd', async () => {
    const out = await faces(
      face('dlib_2008_001322.jpg'),
      ...(await modelFlags()),
      '--face-detector-model',
      'scrfd',
    );
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^face 1 {2}box -?\d+,-?\d+,\d+,\d+ {2}score 0\.\d{3}$/);
  });

  it('reads a video frame', async () => {
    const video = join(dir(), 'astronaut.mp4');
    await ffmpeg(['-loop', '1', '-i', face('astronaut.png'), '-frames:v', '5', '-pix_fmt', 'yuv420p', video]);
    const out = JSON.parse(await faces(video, '--frame', '4', '--json', ...(await modelFlags())));
    expect(out.faces).toHaveLength(1);
  });

  it('fails in one line on a source without a face', async () => {
    const blank = join(dir(), 'blank.png');
    await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=64x64', '-frames:v', '1', blank]);
    await expect(faces(face('obama.jpg'), '-s', blank, ...(await modelFlags()))).rejects.toThrow(
      `no face found in source image ${blank}`,
    );
  });
});

describe.skipIf(bundledMissing)('spotfuse faces on the bundled photo', () => {
  it('finds the face in a phone photo stored sideways with EXIF orientation 6, where it is upright', async () => {
    // A phone held upright stores the picture turned 90° counter-clockwise and tags it "turn clockwise".
    const stored = join(dir(), 'astronaut-stored.jpg');
    await ffmpeg(['-i', face('astronaut.png'), '-vf', 'transpose=2', '-q:v', '2', stored]);
    const phone = join(dir(), 'astronaut-phone.jpg');
    await writeFile(phone, withExifOrientation(await readFile(stored), 6));
    const flags = await modelFlags();
    const upright = JSON.parse(await faces(face('astronaut.png'), '--json', ...flags));
    const turned = JSON.parse(await faces(phone, '--json', ...flags));
    expect(turned.faces).toHaveLength(1);
    const [found] = turned.faces;
    found.box.forEach((v: number, i: number) => {
      expect(Math.abs(v - upright.faces[0].box[i])).toBeLessThan(8);
    });
    const [leftEye, rightEye, , leftMouth, rightMouth] = found.landmarks;
    expect(leftEye[0]).toBeLessThan(rightEye[0]);
    expect(Math.max(leftEye[1], rightEye[1])).toBeLessThan(Math.min(leftMouth[1], rightMouth[1]));
  });
});

describe('spotfuse faces errors', () => {
  it('names a missing file', async () => {
    await expect(faces(join(dir(), 'nope.jpg'))).rejects.toThrow(/^input not found: .*nope\.jpg$/);
  });

  it('refuses what is neither image nor video', async () => {
    const text = join(dir(), 'notes.txt');
    await writeFile(text, 'hello\n');
    await expect(faces(text)).rejects.toThrow(/^not an image or a video: .*notes\.txt$/);
  });

  it.skipIf(bundledMissing)('says when the detector model cannot be had', async () => {
    const empty = pathToFileURL(join(dir(), 'no-models')).href;
    const args = [face('astronaut.png'), '--model-dir', join(dir(), 'empty'), '--model-base-url', empty];
    await expect(faces(...args)).rejects.toThrow(/yoloface_8n/);
  });

  it('prints a line when there is no face', () => {
    expect(facesText([])).toBe('no faces found\n');
  });
});
