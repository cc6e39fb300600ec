import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveBinaries } from '../../src/media/binaries.js';
import { runTool } from '../../src/media/ffmpegProcess.js';
import { openSession, outputFloat32, runNamed } from '../../src/vision/onnx.js';
import { checkProvider } from '../../src/vision/providerCheck.js';
import { FACE_SQUARE, type FakeModelName, writeModel, writeModelSet } from '../fixtures/models.js';
import { ffmpeg } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * The face chain's stand-in models on onnxruntime's WebGPU provider (Dawn over Vulkan) against the CPU
 * provider. Needs a Vulkan driver Dawn accepts, named by SPOTFUSE_VK_ICD or VK_ICD_FILENAMES: CI unpacks
 * Mesa 25's lavapipe (.ci/install-lavapipe), a GPU machine has its vendor's. Measured on Mesa 25.0.7
 * lavapipe: the largest difference over every output is 2.5e-6 (yoloface's boxes, scale 711; arcface's
 * embedding, scale 7.5), most outputs are bit-identical.
 */
const icd = process.env.SPOTFUSE_VK_ICD || process.env.VK_ICD_FILENAMES;
if (!icd) {
  console.log(
    'webgpu tests skipped: no Vulkan ICD configured (set SPOTFUSE_VK_ICD or VK_ICD_FILENAMES; CI uses .ci/install-lavapipe)',
  );
} else {
  process.env.VK_ICD_FILENAMES = icd;
}

/** Largest difference allowed, relative to the output's scale (max |cpu value|, at least 1); measured ≤ 3.4e-7. */
const TOLERANCE = 1e-5;

const CHAIN: FakeModelName[] = [
  'yoloface_8n',
  'scrfd_2.5g',
  '2dfan4',
  'arcface_w600k_r50',
  'xseg_1',
  'inswapper_128',
  'hyperswap_1a_256',
  'gfpgan_1.4',
  'codeformer',
  'real_esrgan_x2',
];

/** Deterministic pseudo-random values in [0, 1) (mulberry32). */
function noise(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  });
}

const dir = useTempDir();

describe.skipIf(!icd)('webgpu execution provider', () => {
  it('really runs a test model on the configured Vulkan driver', async () => {
    const status = await checkProvider('webgpu');
    expect(status).toMatchObject({ available: true, missing: [] });
  });

  it.each(CHAIN)('runs %s like the cpu provider', async (name) => {
    const path = await writeModel(dir(), name);
    const cpu = await openSession(path, name, { provider: 'cpu', threads: 0 });
    const gpu = await openSession(path, name, { provider: 'webgpu', threads: 0 });
    try {
      const inputs = Object.fromEntries(
        cpu.inputMetadata.map((meta, i) => {
          const dims = (meta.isTensor ? meta.shape : []).map((d) => (typeof d === 'number' ? d : 1));
          const length = dims.reduce((a, b) => a * b, 1);
          return [meta.name, { data: noise(length, 17 + i), dims }];
        }),
      );
      const want = await runNamed(cpu, inputs);
      const got = await runNamed(gpu, inputs);
      expect(Object.keys(got)).toEqual(Object.keys(want));
      for (const output of Object.keys(want)) {
        const a = outputFloat32(want[output]);
        const b = outputFloat32(got[output]);
        expect(got[output].dims).toEqual(want[output].dims);
        const scale = a.reduce((max, value) => Math.max(max, Math.abs(value)), 1);
        const worst = a.reduce((max, value, i) => Math.max(max, Math.abs(value - b[i])), 0);
        console.log(`${name}.${output}: max |webgpu - cpu| = ${worst.toExponential(2)} (scale ${scale})`);
        expect(worst / scale).toBeLessThanOrEqual(TOLERANCE);
      }
    } finally {
      await cpu.release();
      await gpu.release();
    }
  });

  it('runs a face job end to end (embedded run, local worker) with the same frames as on cpu', async () => {
    const square = `color=c=white:s=${FACE_SQUARE}x${FACE_SQUARE}:r=10:d=1`;
    const target = join(dir(), 'target.mp4');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'color=c=black:s=640x360:r=10:d=1',
      '-f',
      'lavfi',
      '-i',
      square,
      '-filter_complex',
      '[0:v][1:v]overlay=96:96',
      '-c:v',
      'libx264',
      '-crf',
      '4',
      '-pix_fmt',
      'yuv420p',
      target,
    ]);
    const source = join(dir(), 'source.png');
    await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'color=c=black:s=640x360',
      '-f',
      'lavfi',
      '-i',
      square,
      '-filter_complex',
      '[0:v][1:v]overlay=256:128',
      '-frames:v',
      '1',
      source,
    ]);
    const models = await writeModelSet(dir(), [
      'yoloface_8n',
      '2dfan4',
      'fan_68_5',
      'arcface_w600k_r50',
      'hyperswap_1a_256',
      'gfpgan_1.4',
    ]);
    const frames = async (provider: string) => {
      const output = join(dir(), `${provider}.mp4`);
      const result = await runCli(
        [
          'run',
          '-s',
          source,
          '-t',
          target,
          '-o',
          output,
          '--processors',
          'face_swapper,face_enhancer',
          '--execution-provider',
          provider,
          '--workers',
          '1',
          '--state-dir',
          join(dir(), `state-${provider}`),
          '--model-manifest',
          models.manifest,
          '--model-dir',
          join(dir(), 'model-cache'),
        ],
        dir(),
      );
      expect(result.code, result.stderr).toBe(0);
      return runTool(
        resolveBinaries().ffmpeg,
        ['-v', 'error', '-i', output, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'],
        {
          failure: 'decode',
        },
      );
    };
    // `faces` finds the same face, with the same embedding, on both providers.
    const faces = async (provider: string) => {
      const result = await runCli(
        [
          'faces',
          source,
          '--json',
          '--execution-provider',
          provider,
          '--model-manifest',
          models.manifest,
          '--model-dir',
          join(dir(), 'model-cache'),
        ],
        dir(),
      );
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout);
    };
    const cpuFaces = await faces('cpu');
    expect(cpuFaces.faces).toHaveLength(1);
    expect(await faces('webgpu')).toEqual(cpuFaces);

    const cpu = await frames('cpu');
    const gpu = await frames('webgpu');
    expect(gpu.length).toBe(cpu.length);
    expect(cpu.length).toBe(640 * 360 * 3 * 10);
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i] - gpu[i]));
    console.log(`face job: max pixel difference webgpu vs cpu = ${worst}`);
    expect(worst).toBeLessThanOrEqual(1);
  }, 300_000);
});
