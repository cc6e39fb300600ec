import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveModelSettings } from '../../src/models/settings.js';

/** Real models and photos shared by the project (see its SOURCES.md); never copied into the repo. */
export const TESTDATA = '/work/shared/testdata';
export const face = (name: string) => join(TESTDATA, 'faces', name);
const model = (name: string) => join(TESTDATA, 'models', name);

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

/** Why the real-data tests cannot run here, or undefined when every file is present. */
export const testdataMissing: string | undefined = [...MODELS.map((m) => m.path), ...PHOTOS.map(face)].some(
  (path) => !existsSync(path),
)
  ? `real models and photos not found under ${TESTDATA}`
  : undefined;

/** Writes a manifest registering the testdata models; returns its path. */
export async function writeTestdataManifest(dir: string): Promise<string> {
  const path = join(dir, 'testdata-models.json');
  const models = MODELS.map(({ name, role, path, sha256 }) => ({
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
