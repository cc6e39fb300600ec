import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { downloadModels, formatModelTable, listModels, verifyModels } from '../../src/cli/models.js';
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
    expect(rows[2]).toMatchObject({ size: 554_253_681, sha256: null, role: 'face_swapper' });
    const table = formatModelTable(rows).split('\n');
    expect(table[0]).toMatch(/^NAME\s+ROLE\s+SIZE\s+STATE\s+URL$/);
    expect(table[1]).toMatch(/^det\s+face_detector\s+\?\s+downloaded\s+file:\/\//);
    expect(table[3]).toContain('554.3 MB');
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
