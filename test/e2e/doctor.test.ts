import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNvidiaGpus, parseVulkaninfo } from '../../src/app/doctor/gpus.js';
import type { DoctorReport } from '../../src/app/doctor/report.js';
import { resolveBinaries } from '../../src/media/binaries.js';
import { parseHwaccels } from '../../src/media/hwaccel.js';
import { providerInstalled } from '../../src/vision/onnx.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';
import { createTestDatabase, type TestDatabase } from '../store/postgresTestDb.js';

const dir = useTempDir();
let db: TestDatabase | { unavailable: string };

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  if ('drop' in db) await db.drop();
});

/** A model folder with yoloface_8n's file in it (contents do not matter to the presence check). */
function modelDir(): string {
  const models = join(dir(), 'models');
  mkdirSync(models, { recursive: true });
  writeFileSync(join(models, 'yoloface_8n.onnx'), 'x');
  return models;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('spotfuse doctor', () => {
  it('reports the real ffmpeg, providers, models and cluster stores as JSON', async () => {
    const args = ['doctor', '--json', '--model-dir', modelDir(), '--blob', join(dir(), 'blobs')];
    if ('url' in db) args.push('--db', db.url);
    const result = await runCli(args, dir());
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as DoctorReport;
    expect(report.ok).toBe(true);

    const { ffmpeg, ffprobe } = resolveBinaries();
    expect(report.ffmpeg?.ffmpeg.path).toBe(ffmpeg);
    expect(report.ffmpeg?.ffprobe.path).toBe(ffprobe);
    expect(report.ffmpeg?.ffmpeg.version).toMatch(/^\S+$/);
    expect(report.ffmpeg?.encoders).toContain('libx264');
    expect(report.ffmpeg?.encoders).toContain('mpeg4');
    expect(Array.isArray(report.ffmpeg?.hwaccels)).toBe(true);

    expect(report.providers.map((p) => p.provider)).toEqual(['cpu', 'cuda', 'tensorrt', 'webgpu']);
    expect(report.providers[0]).toEqual({
      provider: 'cpu',
      available: true,
      detail: 'a test model ran on it',
      missing: [],
    });
    if (!providerInstalled('cuda')) {
      expect(report.providers[1].available).toBe(false);
      expect(report.providers[1].detail).toMatch(
        /no cuda provider .*libonnxruntime_providers_cuda\.so.*absent/,
      );
    }

    expect(report.models.dir).toBe(join(dir(), 'models'));
    const yolo = report.models.models.find((m) => m.name === 'yoloface_8n');
    expect(yolo).toEqual({ name: 'yoloface_8n', present: true, defaultChain: true });
    expect(report.models.models.find((m) => m.name === 'arcface_w600k_r50')?.present).toBe(false);

    expect(report.blob).toEqual({ ok: true, detail: 'answered' });
    if ('url' in db)
      expect(report.database).toMatchObject({ ok: true, detail: expect.stringMatching(/^PostgreSQL \d+/) });
    expect(report.vulkan.icds.every((icd) => typeof icd.file === 'string')).toBe(true);

    const names = report.checks.map((c) => c.name);
    expect(names.slice(0, 6)).toEqual(['ffmpeg', 'ffprobe', 'cpu', 'cuda', 'tensorrt', 'webgpu']);
    expect(names).toContain('models');
    expect(names).toContain('blob');
  });

  it('prints one line per check and exits 0 when only optional things are missing', async () => {
    // No Vulkan driver: WebGPU's native code writes its warnings to stderr, in the check's own process.
    const result = await runCli(['doctor', '--model-dir', join(dir(), 'empty')], dir(), {
      VK_ICD_FILENAMES: join(dir(), 'no-icd.json'),
    });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(/^(ok {2}|warn|FAIL|info) {2}\S+ +\S/);
    expect(lines[0]).toMatch(/^ok {4}ffmpeg +\//);
    expect(lines.find((l) => l.includes(' cpu '))).toMatch(/^ok {4}cpu +a test model ran on it$/);
    expect(lines.find((l) => l.includes(' webgpu '))).toMatch(/^warn {2}webgpu +.*needs a Vulkan driver/);
    expect(lines.find((l) => /^\S+ +models /.test(l))).toMatch(
      /0 of \d+ present; the default chain still needs yoloface_8n/,
    );
  });

  it('fails with a clear line for a database that does not answer, and for a missing ffmpeg', async () => {
    const port = await closedPort();
    const noDb = await runCli(['doctor', '--db', `postgres://postgres@127.0.0.1:${port}/x`], dir());
    expect(noDb.code).toBe(1);
    expect(noDb.stdout).toMatch(
      new RegExp(`^FAIL  database +connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`, 'm'),
    );
    expect(noDb.stdout).toMatch(/^ok {4}cpu /m);

    const noFfmpeg = await runCli(['doctor'], dir(), { SPOTFUSE_FFMPEG: join(dir(), 'no-ffmpeg') });
    expect(noFfmpeg.code).toBe(1);
    expect(noFfmpeg.stdout).toMatch(/^FAIL {2}ffmpeg +.*no-ffmpeg/m);
    expect(noFfmpeg.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
  });
});

describe('doctor parsers', () => {
  it('reads ffmpeg -hwaccels, nvidia-smi and vulkaninfo output', () => {
    expect(parseHwaccels('Hardware acceleration methods:\nvdpau\ncuda\n\n')).toEqual(['vdpau', 'cuda']);
    expect(parseNvidiaGpus('NVIDIA H200, 580.95.05, 143771\nTesla T4, 535.1, [N/A]\n')).toEqual([
      { name: 'NVIDIA H200', driver: '580.95.05', memoryMiB: 143771 },
      { name: 'Tesla T4', driver: '535.1', memoryMiB: null },
    ]);
    expect(
      parseVulkaninfo('GPU0:\n\tapiVersion = 1.4.305\n\tdeviceName = llvmpipe (LLVM 15.0.6, 256 bits)\n'),
    ).toEqual(['llvmpipe (LLVM 15.0.6, 256 bits)']);
  });
});
