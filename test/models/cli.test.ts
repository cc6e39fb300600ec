import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  downloadModels,
  emptyModelDirText,
  formatModelTable,
  listModels,
  verifyModels,
} from '../../src/cli/models.js';
import { resolveModelSettings } from '../../src/models/settings.js';
import { useTempDir } from '../helpers/tempDir.js';

const tmp = useTempDir();

/** Settings with two file:// models registered by a manifest; nothing downloaded yet. */
async function setup() {
  const root = join(tmp(), randomBytes(4).toString('hex'));
  await mkdir(root, { recursive: true });
  const bodies = { det: randomBytes(4000), rec: randomBytes(6000) };
  const models = await Promise.all(
    Object.entries(bodies).map(async ([name, body]) => {
      const source = join(root, `${name}-source.onnx`);
      await writeFile(source, body);
      return {
        name,
        url: pathToFileURL(source).href,
        sha256: createHash('sha256').update(body).digest('hex'),
        role: name === 'det' ? 'face_detector' : 'face_recognizer',
        file: `${name}.onnx`,
      };
    }),
  );
  const manifest = join(root, 'models.json');
  await writeFile(manifest, JSON.stringify({ models }));
  const settings = await resolveModelSettings(
    { modelDir: join(root, 'models'), modelManifest: manifest },
    {},
  );
  return { settings, bodies };
}

describe('models commands', () => {
  it('list shows every model, or the named ones, and which are downloaded', async () => {
    const { settings } = await setup();
    const all = await listModels(settings);
    expect(all.map((r) => r.name)).toContain('inswapper_128');
    expect(all.map((r) => r.name)).toContain('det');
    await downloadModels(settings, ['det']);
    const rows = await listModels(settings, ['det', 'rec', 'inswapper_128']);
    expect(rows.map((r) => [r.name, r.downloaded])).toEqual([
      ['det', true],
      ['rec', false],
      ['inswapper_128', false],
    ]);
    expect(rows[2]).toMatchObject({
      size: 554_253_681,
      sha256: null,
      role: 'face_swapper',
      license: 'Non-Commercial',
      nonCommercial: true,
      defaultChain: false,
    });
    const table = formatModelTable(rows).split('\n');
    expect(table[0]).toMatch(/^NAME\s+ROLE\s+DEFAULT\s+SIZE\s+LICENCE\s+STATE\s+URL$/);
    expect(table[1]).toMatch(/^det\s+face_detector\s+size unknown\s+see upstream\s+downloaded\s+file:\/\//);
    expect(table[3]).toMatch(/^inswapper_128\s+face_swapper\s+554\.3 MB\s+Non-Commercial\s+-\s+https:/);
    // The default chain (face_swapper with the default face options) and what it costs to fetch.
    const builtins = await resolveModelSettings({ modelDir: settings.dir }, {});
    const defaults = (await listModels(builtins)).filter((r) => r.defaultChain);
    expect(defaults.map((r) => [r.name, r.license])).toEqual([
      ['yoloface_8n', 'GPL-3.0'],
      ['2dfan4', 'MIT'],
      ['fan_68_5', 'OpenRAIL-M'],
      ['arcface_w600k_r50', 'Non-Commercial'],
      ['hyperswap_1a_256', 'ResearchRAIL'],
    ]);
    expect(formatModelTable(defaults).split('\n')[5]).toMatch(
      /^hyperswap_1a_256\s+face_swapper\s+yes\s+≈403\.0 MB\s+ResearchRAIL \(non-commercial\)\s+-/,
    );
    await expect(listModels(settings, ['nope'])).rejects.toThrow('unknown model "nope"');
  });

  it('download reports progress per model and returns the paths', async () => {
    const { settings, bodies } = await setup();
    const seen: string[] = [];
    const paths = await downloadModels(settings, ['det', 'rec'], (name) => ({
      onProgress: (received, total) => seen.push(`${name} ${received}/${total}`),
      finish: () => seen.push(`${name} done`),
    }));
    expect(paths).toEqual([join(settings.dir, 'det.onnx'), join(settings.dir, 'rec.onnx')]);
    expect(seen).toEqual([
      `det ${bodies.det.length}/${bodies.det.length}`,
      'det done',
      `rec ${bodies.rec.length}/${bodies.rec.length}`,
      'rec done',
    ]);
  });

  it('verify, with nothing to verify, says what the folder holds instead', async () => {
    const { settings } = await setup();
    expect(await emptyModelDirText(settings)).toBe(
      `no catalogue model is fully downloaded in ${settings.dir}\n` +
        '"spotfuse models download" fetches them; "spotfuse run" fetches what its job needs',
    );
    await mkdir(settings.dir, { recursive: true });
    await writeFile(join(settings.dir, 'inswapper_128.onnx.partial'), randomBytes(100));
    await writeFile(join(settings.dir, 'my_swapper.onnx'), randomBytes(100));
    expect(await verifyModels(settings)).toEqual([]);
    expect(await emptyModelDirText(settings)).toBe(
      `no catalogue model is fully downloaded in ${settings.dir}\n` +
        '1 partial download (inswapper_128.onnx.partial): "spotfuse models download inswapper_128" resumes it\n' +
        '1 model file the catalogue does not name (my_swapper.onnx): give each a name, URL and sha256 in a ' +
        '--model-manifest file to use and verify it',
    );
  });

  it('verify reports ok, missing and corrupt models', async () => {
    const { settings, bodies } = await setup();
    expect(await verifyModels(settings)).toEqual([]);
    await downloadModels(settings, ['det', 'rec']);
    expect((await verifyModels(settings)).map((r) => [r.name, r.state])).toEqual([
      ['det', 'ok'],
      ['rec', 'ok'],
    ]);
    const damaged = Buffer.from(bodies.rec);
    damaged[10] ^= 1;
    await writeFile(join(settings.dir, 'rec.onnx'), damaged);
    const rows = await verifyModels(settings, ['det', 'rec', 'xseg_1']);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['det', 'ok'],
      ['rec', 'corrupt'],
      ['xseg_1', 'missing'],
    ]);
    expect(rows[1].reason).toMatch(
      /^sha256 mismatch for .*rec\.onnx: expected [0-9a-f]{64} \(pinned\), got [0-9a-f]{64}$/,
    );
  });
});
