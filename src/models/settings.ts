import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { loadManifest } from './manifest.js';
import { builtinModels, DEFAULT_MODEL_BASE_URL, type ModelEntry } from './registry.js';

export interface ModelFlags {
  modelDir?: string;
  modelBaseUrl?: string;
  modelManifest?: string;
}

export interface ModelSettings {
  dir: string;
  /** Every known model by name: the built-ins, replaced or extended by the manifest's entries. */
  catalog: ReadonlyMap<string, ModelEntry>;
}

type Env = Record<string, string | undefined>;

/** `$XDG_CACHE_HOME/spotfuse/models`, or `~/.cache/spotfuse/models`. */
export function defaultModelDir(env: Env = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'spotfuse', 'models');
}

function checkBaseUrl(url: string): string {
  if (!/^(https?|file):\/\/./.test(url) || !URL.canParse(url.replaceAll('{version}', '0'))) {
    throw new UserError(`model base URL "${url}" is not a file:// or http(s):// URL`);
  }
  return url;
}

/** Flags first, then `SPOTFUSE_MODELS`, `SPOTFUSE_MODEL_BASE_URL`, `SPOTFUSE_MODEL_MANIFEST`, then defaults. */
export async function resolveModelSettings(
  flags: ModelFlags,
  env: Env = process.env,
): Promise<ModelSettings> {
  const dir = resolve(flags.modelDir || env.SPOTFUSE_MODELS || defaultModelDir(env));
  const baseUrl = checkBaseUrl(flags.modelBaseUrl || env.SPOTFUSE_MODEL_BASE_URL || DEFAULT_MODEL_BASE_URL);
  const manifest = flags.modelManifest || env.SPOTFUSE_MODEL_MANIFEST;
  const entries = [...builtinModels(baseUrl), ...(manifest ? await loadManifest(manifest) : [])];
  return { dir, catalog: new Map(entries.map((entry) => [entry.name, entry])) };
}

export function findModel(catalog: ReadonlyMap<string, ModelEntry>, name: string): ModelEntry {
  const entry = catalog.get(name);
  if (!entry) {
    throw new UserError(
      `unknown model "${name}" (see "spotfuse models list", or add it with --model-manifest)`,
    );
  }
  return entry;
}
