import { count, formatBytes } from '../core/format.js';
import type { ModelEntry } from './registry.js';
import { findModel, type ModelSettings } from './settings.js';
import { verifyModel } from './verify.js';

/** `554.3 MB`, `≈403.0 MB` (a published approximate size) or `size unknown`. */
export function modelSize(entry: { size?: number | null; approxSize?: number | null }): string {
  if (entry.size != null) return formatBytes(entry.size);
  if (entry.approxSize != null) return `≈${formatBytes(entry.approxSize)}`;
  return 'size unknown';
}

/** What the models add up to: `≈577.0 MB`, `≈577.0 MB plus 1 of unknown size`. */
export function totalSize(entries: readonly ModelEntry[]): string {
  const known = entries.filter((e) => e.size !== undefined || e.approxSize !== undefined);
  const bytes = known.reduce((sum, e) => sum + (e.size ?? e.approxSize ?? 0), 0);
  const approx = known.some((e) => e.size === undefined) ? '≈' : '';
  const unknown = entries.length - known.length;
  if (known.length === 0) return 'size unknown';
  return `${approx}${formatBytes(bytes)}${unknown > 0 ? ` plus ${unknown} of unknown size` : ''}`;
}

/**
 * One error for every model a job needs that is not in the model directory: each with its size and URL,
 * the total, why they could not be fetched, and the ways to get them.
 */
export function missingModelsMessage(entries: readonly ModelEntry[], dir: string, cause: string): string {
  const nameWidth = Math.max(...entries.map((e) => e.name.length));
  const sizes = entries.map(modelSize);
  const sizeWidth = Math.max(...sizes.map((s) => s.length));
  const lines = entries.map(
    (e, i) => `  ${e.name.padEnd(nameWidth)}  ${sizes[i].padEnd(sizeWidth)}  ${e.url}`,
  );
  const names = entries.map((e) => e.name).join(' ');
  return [
    `${count(entries.length, 'model')} needed ${entries.length === 1 ? 'is' : 'are'} missing from ${dir} ` +
      `(${totalSize(entries)} in all); ${cause}`,
    ...lines,
    'to get them, any of:',
    '  --model-base-url URL (or SPOTFUSE_MODEL_BASE_URL): a mirror that serves these files',
    '  --model-manifest FILE: your own copies (name, url, sha256, role per model)',
    `  spotfuse models download ${names}: on a machine that can reach them, then copy the files into ` +
      `${dir} (--model-dir, SPOTFUSE_MODELS)`,
  ].join('\n');
}

/**
 * The named models that are not in the model directory as verified files, as `missing` or `corrupt`;
 * nothing is downloaded (a server that must not fetch models on a request's behalf asks this first).
 */
export async function modelsNotAtHand(
  names: readonly string[],
  settings: ModelSettings,
): Promise<{ name: string; state: 'missing' | 'corrupt' }[]> {
  const absent: { name: string; state: 'missing' | 'corrupt' }[] = [];
  for (const name of new Set(names)) {
    const status = await verifyModel(findModel(settings.catalog, name), settings.dir, true);
    if (status.state !== 'ok') absent.push({ name, state: status.state });
  }
  return absent;
}
