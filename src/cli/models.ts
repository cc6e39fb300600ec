import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { ensureModel } from '../models/download.js';
import type { ProgressCallback } from '../models/fetchResumable.js';
import type { ModelEntry } from '../models/registry.js';
import { findModel, type ModelFlags, type ModelSettings, resolveModelSettings } from '../models/settings.js';
import { verifyModel } from '../models/verify.js';

export interface ModelRow {
  name: string;
  role: string;
  file: string;
  url: string;
  size: number | null;
  sha256: string | null;
  downloaded: boolean;
}

export interface VerifyRow {
  name: string;
  path: string;
  state: 'ok' | 'missing' | 'corrupt' | 'unverified';
  reason?: string;
}

/** The named models, or every model when no names are given. */
function selectModels(settings: ModelSettings, names: string[]): ModelEntry[] {
  return names.length > 0
    ? names.map((name) => findModel(settings.catalog, name))
    : [...settings.catalog.values()];
}

async function filesIn(dir: string): Promise<Set<string>> {
  return new Set(await readdir(dir).catch(() => []));
}

export async function listModels(settings: ModelSettings, names: string[] = []): Promise<ModelRow[]> {
  const present = await filesIn(settings.dir);
  return selectModels(settings, names).map((entry) => ({
    name: entry.name,
    role: entry.role,
    file: entry.file,
    url: entry.url,
    size: entry.size ?? null,
    sha256: entry.sha256 ?? null,
    downloaded: present.has(entry.file),
  }));
}

function formatBytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function formatModelTable(rows: ModelRow[]): string {
  const cells = rows.map((row) => [
    row.name,
    row.role,
    row.size === null ? '?' : formatBytes(row.size),
    row.downloaded ? 'downloaded' : '-',
    row.url,
  ]);
  const header = ['NAME', 'ROLE', 'SIZE', 'STATE', 'URL'];
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((c) => c[i].length)));
  return [header, ...cells]
    .map((line) =>
      line
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Downloads (or confirms) each model; returns the paths in order. */
export async function downloadModels(
  settings: ModelSettings,
  names: string[],
  progressFor?: (name: string) => { onProgress: ProgressCallback; finish(): void },
): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of selectModels(settings, names)) {
    const view = progressFor?.(entry.name);
    try {
      paths.push(await ensureModel(entry.name, { ...settings, onProgress: view?.onProgress }));
    } finally {
      view?.finish();
    }
  }
  return paths;
}

/**
 * Re-hashes each model. Without names it checks the models that are downloaded; a named model
 * that is absent counts as missing.
 */
export async function verifyModels(settings: ModelSettings, names: string[] = []): Promise<VerifyRow[]> {
  const present = await filesIn(settings.dir);
  const entries = selectModels(settings, names).filter((e) => names.length > 0 || present.has(e.file));
  const rows: VerifyRow[] = [];
  for (const entry of entries) {
    try {
      const status = await verifyModel(entry, settings.dir);
      rows.push({ name: entry.name, ...status });
    } catch (error) {
      const path = join(settings.dir, entry.file);
      rows.push({ name: entry.name, path, state: 'unverified', reason: (error as Error).message });
    }
  }
  return rows;
}

/** A one-line progress display on a terminal, redrawn at most ten times a second. */
export function terminalDownloadProgress(stream: NodeJS.WriteStream, name: string) {
  let last = 0;
  let drawn = false;
  return {
    onProgress(received: number, total: number | undefined) {
      const now = Date.now();
      if (now - last < 100 && received !== total) return;
      last = now;
      const share = total ? ` ${((received / total) * 100).toFixed(0)}%` : '';
      const of = total ? ` / ${formatBytes(total)}` : '';
      stream.write(`\rdownloading ${name} ${formatBytes(received)}${of}${share}\x1b[K`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}

/** `--model-dir`, `--model-base-url`, `--model-manifest`, for any command that loads models. */
export function addModelOptions(command: Command): Command {
  return command
    .option(
      '--model-dir <dir>',
      'where models are kept (default: $SPOTFUSE_MODELS or ~/.cache/spotfuse/models)',
    )
    .option(
      '--model-base-url <url>',
      'where built-in models are fetched from; {version} stands for the models-X.Y.Z release (default: $SPOTFUSE_MODEL_BASE_URL or FaceFusion assets)',
    )
    .option('--model-manifest <file>', 'JSON or YAML file of extra or replacement models');
}

/** The model flags that were given, as arguments for a worker process this command starts. */
export function modelArgs(flags: ModelFlags): string[] {
  const args: string[] = [];
  if (flags.modelDir) args.push('--model-dir', resolve(flags.modelDir));
  if (flags.modelBaseUrl) args.push('--model-base-url', flags.modelBaseUrl);
  if (flags.modelManifest) args.push('--model-manifest', resolve(flags.modelManifest));
  return args;
}

export function registerModels(program: Command): void {
  const models = program.command('models').description('list, download and verify ONNX models');

  addModelOptions(models.command('list [names...]').description('show the known models'))
    .option('--json', 'print JSON')
    .action(async (names: string[], flags: ModelFlags & { json?: boolean }) => {
      const rows = await listModels(await resolveModelSettings(flags), names);
      process.stdout.write(`${flags.json ? JSON.stringify(rows, null, 2) : formatModelTable(rows)}\n`);
    });

  addModelOptions(
    models.command('download [names...]').description('download and verify models (all when none are named)'),
  ).action(async (names: string[], flags: ModelFlags) => {
    const settings = await resolveModelSettings(flags);
    const tty = process.stderr.isTTY;
    const paths = await downloadModels(
      settings,
      names,
      tty ? (name) => terminalDownloadProgress(process.stderr, name) : undefined,
    );
    for (const path of paths) process.stdout.write(`${path}\n`);
  });

  addModelOptions(
    models
      .command('verify [names...]')
      .description(
        're-hash models (the downloaded ones when none are named); fails if any is missing or corrupt',
      ),
  ).action(async (names: string[], flags: ModelFlags) => {
    const settings = await resolveModelSettings(flags);
    const rows = await verifyModels(settings, names);
    if (rows.length === 0) process.stderr.write(`no models downloaded in ${settings.dir}\n`);
    for (const row of rows) {
      process.stdout.write(`${row.state.padEnd(10)} ${row.name}  ${row.reason ?? row.path}\n`);
    }
    if (rows.some((row) => row.state !== 'ok')) process.exitCode = 1;
  });
}
