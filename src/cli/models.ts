import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { count, formatBytes } from '../core/format.js';
import { type DownloadView, ensureModels } from '../models/download.js';
import { modelSize } from '../models/missing.js';
import { isNonCommercial, type ModelEntry } from '../models/registry.js';
import { findModel, type ModelFlags, type ModelSettings, resolveModelSettings } from '../models/settings.js';
import { verifyModel } from '../models/verify.js';
import { DEFAULT_PROCESSORS } from './jobFlags.js';

export interface ModelRow {
  name: string;
  role: string;
  file: string;
  url: string;
  size: number | null;
  /** A published approximate size where the exact one is not known. */
  approxSize: number | null;
  sha256: string | null;
  license: string | null;
  nonCommercial: boolean;
  /** Needed by `run` with its defaults (face_swapper and the default face options). */
  defaultChain: boolean;
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

/** The models `run` needs with its default processors and face options. */
export async function defaultChainModels(settings: ModelSettings): Promise<string[]> {
  // Loaded here: the face job pulls in ONNX Runtime, which no other command at start-up needs.
  const { requiredModels } = await import('../vision/faceJob.js');
  const { DEFAULT_FACE_OPTIONS } = await import('../vision/faceOptions.js');
  const { parseProcessorList } = await import('../vision/processors/registry.js');
  return requiredModels(
    parseProcessorList(DEFAULT_PROCESSORS.join(',')),
    DEFAULT_FACE_OPTIONS,
    settings.catalog,
  );
}

export async function listModels(settings: ModelSettings, names: string[] = []): Promise<ModelRow[]> {
  const [present, defaults] = await Promise.all([filesIn(settings.dir), defaultChainModels(settings)]);
  return selectModels(settings, names).map((entry) => ({
    name: entry.name,
    role: entry.role,
    file: entry.file,
    url: entry.url,
    size: entry.size ?? null,
    approxSize: entry.approxSize ?? null,
    sha256: entry.sha256 ?? null,
    license: entry.license ?? null,
    nonCommercial: isNonCommercial(entry),
    defaultChain: defaults.includes(entry.name),
    downloaded: present.has(entry.file),
  }));
}

function licenseCell(row: ModelRow): string {
  if (row.license === null) return 'see upstream';
  return row.nonCommercial && row.license !== 'Non-Commercial'
    ? `${row.license} (non-commercial)`
    : row.license;
}

export function formatModelTable(rows: ModelRow[]): string {
  const cells = rows.map((row) => [
    row.name,
    row.role,
    row.defaultChain ? 'yes' : '',
    modelSize(row),
    licenseCell(row),
    row.downloaded ? 'downloaded' : '-',
    row.url,
  ]);
  const header = ['NAME', 'ROLE', 'DEFAULT', 'SIZE', 'LICENCE', 'STATE', 'URL'];
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
  progressFor?: (name: string) => DownloadView,
): Promise<string[]> {
  const entries = selectModels(settings, names);
  return ensureModels(
    entries.map((e) => e.name),
    settings,
    progressFor,
  );
}

/**
 * What `models verify` says when it has no catalogue model to check: what the folder holds instead
 * (partial downloads, model files the catalogue does not name) and what to do about it.
 */
export async function emptyModelDirText(settings: ModelSettings): Promise<string> {
  const files = [...(await filesIn(settings.dir))].sort();
  const byFile = new Map([...settings.catalog.values()].map((e) => [e.file, e]));
  const partial = files.filter((f) => f.endsWith('.partial') && byFile.has(f.slice(0, -'.partial'.length)));
  const strays = files.filter((f) => f.endsWith('.onnx') && !byFile.has(f));
  const lines = [`no catalogue model is fully downloaded in ${settings.dir}`];
  if (partial.length > 0) {
    const names = partial.map((f) => byFile.get(f.slice(0, -'.partial'.length))!.name);
    lines.push(
      `${count(partial.length, 'partial download')} (${partial.join(', ')}): ` +
        `"spotfuse models download ${names.join(' ')}" resumes ${partial.length === 1 ? 'it' : 'them'}`,
    );
  }
  if (strays.length > 0) {
    lines.push(
      `${count(strays.length, 'model file')} the catalogue does not name (${strays.join(', ')}): ` +
        'give each a name, URL and sha256 in a --model-manifest file to use and verify it',
    );
  }
  if (partial.length === 0 && strays.length === 0) {
    lines.push('"spotfuse models download" fetches them; "spotfuse run" fetches what its job needs');
  }
  return lines.join('\n');
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
    if (rows.length === 0) process.stderr.write(`${await emptyModelDirText(settings)}\n`);
    for (const row of rows) {
      process.stdout.write(`${row.state.padEnd(10)} ${row.name}  ${row.reason ?? row.path}\n`);
    }
    if (rows.some((row) => row.state !== 'ok')) process.exitCode = 1;
  });
}
