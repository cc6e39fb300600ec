import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { ensureModel, ensureModels } from '../../src/models/download.js';
import { LOCK_FILE } from '../../src/models/lockFile.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import { verifyModel } from '../../src/models/verify.js';
import { useTempDir } from '../helpers/tempDir.js';
import { type ModelServer, startModelServer } from './modelServer.js';

const tmp = useTempDir();
let server: ModelServer;
let counter = 0;

beforeAll(async () => {
  server = await startModelServer();
});
afterAll(() => server.close());

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const crcHex = (data: Buffer) => crc32(data).toString(16).padStart(8, '0');

/** A fresh model dir and settings whose manifest registers `entries`. */
async function settingsWith(entries: object[] = []): Promise<ModelSettings> {
  const root = join(tmp(), `case-${++counter}`);
  await mkdir(root, { recursive: true });
  const manifest = join(root, 'manifest.json');
  await writeFile(manifest, JSON.stringify({ models: entries }));
  return resolveModelSettings(
    {
      modelDir: join(root, 'models'),
      modelBaseUrl: `${server.url}/models-{version}`,
      modelManifest: manifest,
    },
    {},
  );
}

/** Serves random bytes at a fresh path and returns them with an entry pinning their hash. */
function serve(behaviour?: 'cutOnce' | 'ignoreRange', size = 300_000) {
  const body = randomBytes(size);
  const name = `model_${++counter}`;
  const path = `/custom/${name}.onnx`;
  server.files.set(path, { body, behaviour });
  return {
    body,
    name,
    path,
    entry: { name, url: `${server.url}${path}`, sha256: sha256(body), role: 'face_swapper' },
  };
}

const requestsFor = (path: string) => server.requests.filter((r) => r.path === path);

describe('ensureModel', () => {
  it('downloads a model pinned by sha256, verifies it, and reports progress', async () => {
    const { body, name, path, entry } = serve();
    const settings = await settingsWith([entry]);
    const progress: [number, number | undefined][] = [];
    const file = await ensureModel(name, { ...settings, onProgress: (r, t) => progress.push([r, t]) });
    expect(file).toBe(join(settings.dir, `${name}.onnx`));
    expect(sha256(await readFile(file))).toBe(sha256(body));
    expect(progress.at(-1)).toEqual([body.length, body.length]);
    expect(progress.length).toBeGreaterThan(1);
    expect(await readdir(settings.dir)).toEqual([`${name}.onnx`, LOCK_FILE]);
    // Present and unchanged: no second request.
    expect(await ensureModel(name, settings)).toBe(file);
    expect(requestsFor(path)).toHaveLength(1);
  });

  it('checks a built-in model against the upstream CRC32 .hash and records its sha256', async () => {
    const body = randomBytes(100_000);
    server.files.set('/models-3.4.0/yunet_2023_mar.onnx', { body });
    server.files.set('/models-3.4.0/yunet_2023_mar.onnx.hash', { body: crcHex(body) });
    const settings = await settingsWith();
    const file = await ensureModel('yunet_2023_mar', settings);
    expect(sha256(await readFile(file))).toBe(sha256(body));
    const lock = JSON.parse(await readFile(join(settings.dir, LOCK_FILE), 'utf8'));
    expect(lock['yunet_2023_mar.onnx']).toMatchObject({ sha256: sha256(body), size: body.length });

    // From now on the recorded sha256 is what counts (trust on first use).
    const tampered = Buffer.from(body);
    tampered[0] ^= 0xff;
    await writeFile(file, tampered);
    const entry = settings.catalog.get('yunet_2023_mar')!;
    const status = await verifyModel(entry, settings.dir);
    expect(status.state).toBe('corrupt');
    expect(status.state === 'corrupt' && status.reason).toContain(sha256(body));
    expect(status.state === 'corrupt' && status.reason).toContain(sha256(tampered));

    // ensureModel replaces the damaged file with a fresh, verified download.
    expect(sha256(await readFile(await ensureModel('yunet_2023_mar', settings)))).toBe(sha256(body));
  });

  it('rejects a download whose CRC32 does not match the .hash file', async () => {
    const body = randomBytes(50_000);
    server.files.set('/models-3.1.0/xseg_1.onnx', { body });
    server.files.set('/models-3.1.0/xseg_1.onnx.hash', { body: '0badc0de\n' });
    const settings = await settingsWith();
    await expect(ensureModel('xseg_1', settings)).rejects.toThrow(
      `crc32 mismatch for ${join(settings.dir, 'xseg_1.onnx')}: expected 0badc0de`,
    );
    expect(await readdir(settings.dir)).toEqual([]);
  });

  it('deletes a corrupt download and names the file and both hashes', async () => {
    const { body, name, entry } = serve();
    const wanted = sha256(randomBytes(10));
    const settings = await settingsWith([{ ...entry, sha256: wanted }]);
    const error = await ensureModel(name, settings).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      `sha256 mismatch for ${join(settings.dir, `${name}.onnx`)}: expected ${wanted} (pinned), got ${sha256(body)}`,
    );
    expect(await readdir(settings.dir)).toEqual([]);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const { body, name, path, entry } = serve('cutOnce');
    const settings = await settingsWith([entry]);
    const file = await ensureModel(name, { ...settings, retryDelayMs: 10 });
    expect(sha256(await readFile(file))).toBe(sha256(body));
    const [first, second] = requestsFor(path);
    expect(first.range).toBeUndefined();
    const offset = Number(/^bytes=(\d+)-$/.exec(second.range ?? '')?.[1]);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(body.length / 2);
    expect(second.status).toBe(206);
  });

  it('keeps the partial file when retries run out, and the next call resumes it', async () => {
    const { body, name, path, entry } = serve('cutOnce');
    const settings = await settingsWith([entry]);
    await expect(ensureModel(name, { ...settings, attempts: 1 })).rejects.toThrow(
      /failed after 1 tries \(.*\); run again to resume/,
    );
    const partial = join(settings.dir, `${name}.onnx.partial`);
    const kept = (await readFile(partial)).length;
    expect(kept).toBeGreaterThan(0);
    expect(sha256(await readFile(await ensureModel(name, settings)))).toBe(sha256(body));
    expect(requestsFor(path)[1].range).toBe(`bytes=${kept}-`);
    expect(existsSync(partial)).toBe(false);
  });

  it('starts over when the server answers a Range request with the whole file', async () => {
    const { body, name, path, entry } = serve('ignoreRange');
    const settings = await settingsWith([entry]);
    await mkdir(settings.dir, { recursive: true });
    await writeFile(join(settings.dir, `${name}.onnx.partial`), body.subarray(0, 1000));
    expect(sha256(await readFile(await ensureModel(name, settings)))).toBe(sha256(body));
    expect(requestsFor(path)).toEqual([{ path, range: 'bytes=1000-', status: 200 }]);
  });

  it('starts over when a partial file is longer than the model (416)', async () => {
    const { body, name, path, entry } = serve(undefined, 1000);
    const settings = await settingsWith([entry]);
    await mkdir(settings.dir, { recursive: true });
    await writeFile(join(settings.dir, `${name}.onnx.partial`), randomBytes(2000));
    expect(sha256(await readFile(await ensureModel(name, settings)))).toBe(sha256(body));
    expect(requestsFor(path).map((r) => r.status)).toEqual([416, 200]);
  });

  it('gives a one-line error with the URL on 404', async () => {
    const settings = await settingsWith([
      { name: 'gone', url: `${server.url}/missing.onnx`, sha256: 'a'.repeat(64), role: 'face_detector' },
    ]);
    await expect(ensureModel('gone', settings)).rejects.toThrow(
      new UserError(`download failed: HTTP 404 Not Found from ${server.url}/missing.onnx`),
    );
    await expect(ensureModel('2dfan4', settings)).rejects.toThrow(
      `HTTP 404 Not Found from ${server.url}/models-3.0.0/2dfan4.onnx`,
    );
  });

  it('copies a file:// model', async () => {
    const body = randomBytes(20_000);
    const source = join(tmp(), 'local-model.bin');
    await writeFile(source, body);
    const settings = await settingsWith([
      {
        name: 'local',
        url: pathToFileURL(source).href,
        sha256: sha256(body),
        role: 'face_recognizer',
        file: 'local.onnx',
      },
    ]);
    const before = server.requests.length;
    const file = await ensureModel('local', settings);
    expect(file).toBe(join(settings.dir, 'local.onnx'));
    expect(sha256(await readFile(file))).toBe(sha256(body));
    expect(server.requests.length).toBe(before);
  });

  it('downloads once when several callers want the same model at the same time', async () => {
    const { body, name, path, entry } = serve();
    const settings = await settingsWith([entry]);
    const files = await Promise.all([1, 2, 3].map(() => ensureModel(name, settings)));
    expect(new Set(files).size).toBe(1);
    expect(sha256(await readFile(files[0]))).toBe(sha256(body));
    expect(requestsFor(path)).toHaveLength(1);
  });

  it('refuses an unknown model name', async () => {
    const settings = await settingsWith();
    await expect(ensureModel('nope', settings)).rejects.toThrow('unknown model "nope"');
  });
});

/** A TCP server that accepts connections and never answers (a black-holing firewall, a hung mirror). */
async function silentServer(): Promise<{ url: string; requests: string[]; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  const requests: string[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    socket.once('data', (head) => requests.push(String(head).split('\r\n')[0]));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: connections are refused. */
async function refusedUrl(): Promise<string> {
  const closed = await startModelServer();
  await closed.close();
  return closed.url;
}

describe('ensureModels', () => {
  const needed = ['yoloface_8n', 'arcface_w600k_r50', 'hyperswap_1a_256'];

  async function settingsAt(baseUrl: string): Promise<ModelSettings> {
    return resolveModelSettings(
      { modelDir: join(tmp(), `ensure-${++counter}`), modelBaseUrl: `${baseUrl}/models-{version}` },
      {},
    );
  }

  function expectAllListed(message: string, settings: ModelSettings, baseUrl: string) {
    const lines = message.split('\n');
    expect(lines[0]).toBe(
      `3 models needed are missing from ${settings.dir} (≈577.0 MB plus 1 of unknown size in all); ` +
        `cannot reach ${new URL(baseUrl).host} (${lines[0].match(/\(([^)]+)\) for/)?.[1]}) ` +
        `for ${baseUrl}/models-3.0.0/yoloface_8n.onnx`,
    );
    expect(lines.slice(1, 4)).toEqual([
      `  yoloface_8n        size unknown  ${baseUrl}/models-3.0.0/yoloface_8n.onnx`,
      `  arcface_w600k_r50  ≈174.0 MB     ${baseUrl}/models-3.0.0/arcface_w600k_r50.onnx`,
      `  hyperswap_1a_256   ≈403.0 MB     ${baseUrl}/models-3.3.0/hyperswap_1a_256.onnx`,
    ]);
    expect(message).toContain('--model-base-url URL');
    expect(message).toContain('--model-manifest FILE');
    expect(message).toContain(`spotfuse models download ${needed.join(' ')}`);
  }

  it('lists every missing model at once, with sizes and the total, when the server refuses', async () => {
    const baseUrl = await refusedUrl();
    const settings = await settingsAt(baseUrl);
    const error = await ensureModels(needed, settings).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UserError);
    expectAllListed((error as Error).message, settings, baseUrl);
    expect((error as Error).message).toContain('(ECONNREFUSED)');
  });

  it('gives up on a server that does not answer after one wait, without trying the other models', async () => {
    const silent = await silentServer();
    try {
      const settings = await settingsAt(silent.url);
      const error = await ensureModels(needed, { ...settings, responseTimeoutMs: 300 }).catch((e) => e);
      expectAllListed((error as Error).message, settings, silent.url);
      expect((error as Error).message).toContain('(no answer within 0.3 s)');
      expect(silent.requests).toEqual(['GET /models-3.0.0/yoloface_8n.onnx HTTP/1.1']);
    } finally {
      await silent.close();
    }
  });

  it('still fetches the models it can, and lists only those it could not', async () => {
    const { name, entry } = serve(undefined, 1000);
    const settings = await settingsWith([
      entry,
      { name: 'gone', url: `${server.url}/gone.onnx`, sha256: 'a'.repeat(64), role: 'face_detector' },
    ]);
    const error = await ensureModels(['gone', name], settings).catch((e: Error) => e);
    expect((error as Error).message.split('\n').slice(0, 2)).toEqual([
      `1 model needed is missing from ${settings.dir} (size unknown in all); ` +
        `download failed: HTTP 404 Not Found from ${server.url}/gone.onnx`,
      `  gone  size unknown  ${server.url}/gone.onnx`,
    ]);
    expect(existsSync(join(settings.dir, `${name}.onnx`))).toBe(true);
  });
});
