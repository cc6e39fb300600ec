import { writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/models/manifest.js';
import { builtinModels, DEFAULT_MODEL_BASE_URL, isNonCommercial } from '../../src/models/registry.js';
import { defaultModelDir, resolveModelSettings } from '../../src/models/settings.js';
import { useTempDir } from '../helpers/tempDir.js';

const tmp = useTempDir();
const HASH = 'AB'.repeat(32);

async function manifestFile(name: string, text: string): Promise<string> {
  const path = join(tmp(), name);
  await writeFile(path, text);
  return path;
}

describe('built-in models', () => {
  it('use FaceFusion names and release URLs, without invented hashes', () => {
    const byName = new Map(builtinModels().map((e) => [e.name, e]));
    for (const name of [
      'yoloface_8n',
      'scrfd_2.5g',
      'retinaface_10g',
      'yunet_2023_mar',
      'arcface_w600k_r50',
    ]) {
      expect(byName.has(name)).toBe(true);
    }
    expect(byName.get('inswapper_128')).toEqual({
      name: 'inswapper_128',
      file: 'inswapper_128.onnx',
      role: 'face_swapper',
      url: 'https://github.com/facefusion/facefusion-assets/releases/download/models-3.0.0/inswapper_128.onnx',
      license: 'Non-Commercial',
      size: 554_253_681,
    });
    expect(byName.get('hyperswap_1a_256')?.url).toContain('/models-3.3.0/hyperswap_1a_256.onnx');
    expect([...byName.values()].every((e) => e.sha256 === undefined)).toBe(true);
  });

  it("carry FaceFusion 3.8.1's licence for each model and mark the non-commercial ones", () => {
    const models = builtinModels();
    expect(models.every((e) => e.license !== undefined)).toBe(true);
    const nonCommercial = models.filter(isNonCommercial).map((e) => e.name);
    expect(nonCommercial).toEqual([
      'scrfd_2.5g',
      'retinaface_10g',
      'arcface_w600k_r50',
      'inswapper_128',
      'inswapper_128_fp16',
      'hyperswap_1a_256',
      'hyperswap_1b_256',
      'hyperswap_1c_256',
      'blendswap_256',
      'simswap_256',
      'simswap_unofficial_512',
      'crossface_simswap',
      'codeformer',
      'gpen_bfr_256',
      'gpen_bfr_512',
      'gpen_bfr_1024',
      'gpen_bfr_2048',
      'clear_reality_x4',
      'remacri_x4',
      'span_kendata_x4',
      'ultra_sharp_x4',
      'ultra_sharp_2_x4',
    ]);
    const byName = new Map(models.map((e) => [e.name, e]));
    expect(byName.get('codeformer')?.license).toBe('S-Lab-1.0');
    expect(byName.get('hyperswap_1a_256')?.license).toBe('ResearchRAIL');
    expect(byName.get('gfpgan_1.4')?.license).toBe('Apache-2.0');
    expect(byName.get('real_esrgan_x2')?.license).toBe('BSD-3-Clause');
    expect(byName.get('yoloface_8n')?.license).toBe('GPL-3.0');
  });

  it('take their URLs from a mirror, with or without {version}', () => {
    const flat = builtinModels('http://mirror.local/models/');
    expect(flat.find((e) => e.name === 'gfpgan_1.4')?.url).toBe('http://mirror.local/models/gfpgan_1.4.onnx');
    const hf = builtinModels('https://huggingface.co/facefusion/models-{version}/resolve/main');
    expect(hf.find((e) => e.name === 'yunet_2023_mar')?.url).toBe(
      'https://huggingface.co/facefusion/models-3.4.0/resolve/main/yunet_2023_mar.onnx',
    );
  });
});

describe('model settings', () => {
  it('prefer flags, then SPOTFUSE_* variables, then the user cache', async () => {
    const env = { SPOTFUSE_MODELS: '/env/models', SPOTFUSE_MODEL_BASE_URL: 'file:///mirror' };
    const fromEnv = await resolveModelSettings({}, env);
    expect(fromEnv.dir).toBe('/env/models');
    expect(fromEnv.catalog.get('xseg_1')?.url).toBe('file:///mirror/xseg_1.onnx');
    const fromFlags = await resolveModelSettings(
      { modelDir: '/flag', modelBaseUrl: 'http://m/{version}' },
      env,
    );
    expect(fromFlags.dir).toBe('/flag');
    expect(fromFlags.catalog.get('xseg_1')?.url).toBe('http://m/3.1.0/xseg_1.onnx');
    expect((await resolveModelSettings({}, {})).catalog.get('xseg_1')?.url).toContain(
      DEFAULT_MODEL_BASE_URL.slice(0, 40),
    );
    expect(defaultModelDir({ XDG_CACHE_HOME: '/cache' })).toBe('/cache/spotfuse/models');
    expect(defaultModelDir({})).toBe(join(homedir(), '.cache', 'spotfuse', 'models'));
  });

  it('refuse a base URL that is not file:// or http(s)://', async () => {
    await expect(resolveModelSettings({ modelBaseUrl: 'ftp://x' }, {})).rejects.toThrow(
      'model base URL "ftp://x" is not a file:// or http(s):// URL',
    );
  });
});

describe('model manifests', () => {
  it('YAML entries override the built-in of the same name and add new ones', async () => {
    const path = await manifestFile(
      'models.yaml',
      [
        'models:',
        '  - name: inswapper_128',
        '    url: https://mirror.example/swap/my_inswapper.onnx',
        `    sha256: ${HASH}`,
        '    role: face_swapper',
        '  - name: mobilefacenet',
        '    url: file:///data/mobilefacenet.onnx',
        `    sha256: ${HASH}`,
        '    role: face_recognizer',
        '    file: mfn.onnx',
        '    size: 4000000',
      ].join('\n'),
    );
    const { catalog } = await resolveModelSettings({ modelManifest: path }, {});
    expect(catalog.get('inswapper_128')).toEqual({
      name: 'inswapper_128',
      url: 'https://mirror.example/swap/my_inswapper.onnx',
      sha256: HASH.toLowerCase(),
      role: 'face_swapper',
      file: 'my_inswapper.onnx',
    });
    expect(catalog.get('mobilefacenet')).toMatchObject({
      file: 'mfn.onnx',
      role: 'face_recognizer',
      size: 4_000_000,
    });
    expect(catalog.get('gfpgan_1.4')?.url).toContain('facefusion-assets');
  });

  it('JSON entries override built-ins too', async () => {
    const path = await manifestFile(
      'models.json',
      JSON.stringify({
        models: [
          { name: 'yunet_2023_mar', url: 'http://10.0.0.1/yunet.onnx', sha256: HASH, role: 'face_detector' },
        ],
      }),
    );
    const { catalog } = await resolveModelSettings({ modelManifest: path }, {});
    expect(catalog.get('yunet_2023_mar')).toMatchObject({
      url: 'http://10.0.0.1/yunet.onnx',
      file: 'yunet.onnx',
    });
  });

  const entry = { name: 'm', url: 'http://h/m.onnx', sha256: HASH, role: 'face_detector' };
  it.each([
    [{ models: [{ ...entry, sha256: 'abc' }] }, 'entry 1 ("m"): sha256: must be 64 hex characters'],
    [
      { models: [entry, { ...entry, role: 'face_painter' }] },
      'entry 2 ("m"): role: must be one of face_detector',
    ],
    [
      { models: [{ ...entry, url: 'ftp://h/m.onnx' }] },
      'entry 1 ("m"): url: must be a file:// or http(s):// URL',
    ],
    [{ models: [{ ...entry, file: '../evil.onnx' }] }, 'entry 1 ("m"): file: must be a plain file name'],
    [{ models: [{ ...entry, extra: 1 }] }, 'entry 1 ("m"): Unrecognized key: "extra"'],
    [{ models: [{ url: entry.url }] }, 'entry 1: name:'],
    [{ models: [entry, entry] }, 'entry 2 ("m"): name appears more than once'],
    [
      { models: [{ ...entry, url: 'http://h/' }] },
      'entry 1 ("m"): cannot take a file name from the URL; give "file"',
    ],
    [[entry], 'expected "models:" with a list of entries'],
  ])('rejects %j with one line naming the file and entry', async (content, message) => {
    const path = await manifestFile('bad.json', JSON.stringify(content));
    const error = await loadManifest(path).catch((e: Error) => e);
    expect((error as Error).message).toContain(`model manifest ${path}: ${message}`);
    expect((error as Error).message).not.toContain('\n');
  });

  it('rejects unparsable and unreadable files', async () => {
    const yaml = await manifestFile('broken.yml', 'models: [unclosed');
    await expect(loadManifest(yaml)).rejects.toThrow(`model manifest ${yaml}: not valid YAML:`);
    const json = await manifestFile('broken.json', '{');
    await expect(loadManifest(json)).rejects.toThrow(`model manifest ${json}: not valid JSON:`);
    const missing = join(tmp(), 'absent.yaml');
    await expect(loadManifest(missing)).rejects.toThrow(`model manifest ${missing}: cannot read it (ENOENT)`);
  });
});
