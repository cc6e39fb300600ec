import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolveModelSettings } from '../../src/models/settings.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Real models and photos. The YuNet detector and astronaut.png ship with the tests (test/fixtures/testdata,
 * see its SOURCES.md), so a real detector runs on a real photo on every machine. The others stay outside
 * the repository: in `../shared/testdata` beside it, or wherever SPOTFUSE_TESTDATA points.
 */
export const BUNDLED = join(REPO, 'test', 'fixtures', 'testdata');
export const TESTDATA = resolve(REPO, process.env.SPOTFUSE_TESTDATA ?? join('..', 'shared', 'testdata'));

const BUNDLED_PHOTOS = new Set(['astronaut.png']);
const BUNDLED_MODELS = new Set(['face_detection_yunet_2023mar.onnx']);

export const face = (name: string) => join(BUNDLED_PHOTOS.has(name) ? BUNDLED : TESTDATA, 'faces', name);
const model = (name: string) => join(BUNDLED_MODELS.has(name) ? BUNDLED : TESTDATA, 'models', name);

/** The testdata models, each registered under the name of the built-in it stands in for. */
const MODELS = [
  {
    name: 'yunet_2023_mar',
    role: 'face_detector',
    path: model('face_detection_yunet_2023mar.onnx'),
    sha256: '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4',
  },
  {
    name: 'scrfd_2.5g',
    role: 'face_detector',
    path: model('scrfd_500m_bnkps.onnx'),
    sha256: '6c6ba7956684796d7d582bfa1ab95dfe01dd280159f6bff1e23c1bc32bcc8431',
  },
  {
    name: 'mobilefacenet',
    role: 'face_recognizer',
    path: model('mobilefacenet.onnx'),
    sha256: 'b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507',
  },
];

export const PHOTOS = [
  'obama.jpg',
  'obama2.jpg',
  'biden.jpg',
  'two_people.jpg',
  'astronaut.png',
  'dlib_2008_001322.jpg',
  'dlib_2008_002079.jpg',
  'dlib_2007_007763.jpg',
  'dlib_2009_004587.jpg',
  'obama_partial_face.jpg',
];

/**
 * Why tests that need these files cannot run here, or undefined when all are present. The reason is
 * printed once per test file that asks, so that a skip never goes unexplained.
 */
function missing(paths: string[], what: string): string | undefined {
  const absent = paths.filter((path) => !existsSync(path));
  if (absent.length === 0) return undefined;
  const reason = `${what}: ${absent.length} file(s) missing, e.g. ${absent[0]} (set SPOTFUSE_TESTDATA to the shared testdata folder)`;
  console.warn(`skipping tests that need ${reason}`);
  return reason;
}

/** Why the tests on every real model and photo cannot run here, or undefined when they can. */
export const testdataMissing = missing(
  [...MODELS.map((m) => m.path), ...PHOTOS.map(face)],
  `the real models and photos under ${TESTDATA}`,
);

/** Why the bundled YuNet and astronaut.png are not at hand (they should always be), or undefined. */
export const bundledMissing = missing(
  [model('face_detection_yunet_2023mar.onnx'), face('astronaut.png')],
  `the bundled testdata under ${BUNDLED}`,
);

/** Writes a manifest registering the testdata models present on this machine; returns its path. */
export async function writeTestdataManifest(dir: string): Promise<string> {
  const path = join(dir, 'testdata-models.json');
  const models = MODELS.filter((m) => existsSync(m.path)).map(({ name, role, path, sha256 }) => ({
    name,
    role,
    sha256,
    url: pathToFileURL(path).href,
    file: `${name}.onnx`,
  }));
  await writeFile(path, JSON.stringify({ models }));
  return path;
}

/** Model settings that serve the testdata models from a scratch model directory. */
export async function testdataModels(dir: string) {
  return resolveModelSettings(
    { modelDir: join(dir, 'models'), modelManifest: await writeTestdataManifest(dir) },
    {},
  );
}
