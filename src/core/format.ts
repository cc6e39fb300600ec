/** Human-readable numbers for lines people read: durations, dollar amounts, sizes and counts. */

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** Dollars, with sub-dollar amounts to the hundredth of a cent. */
export function formatMoney(usd: number): string {
  return `$${usd >= 1 ? usd.toFixed(2) : usd.toFixed(4)}`;
}

/** Bytes in decimal megabytes, as download sizes are usually given: `554.3 MB`. */
export function formatBytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The noun for `n` things: singular for one, plural otherwise (`0 frames`). */
export function noun(n: number, singular: string, plural = `${singular}s`): string {
  return n === 1 ? singular : plural;
}

/** `1 frame`, `2 frames`, `0 frames`: a count and its noun. */
export function count(n: number, singular: string, plural?: string): string {
  return `${n} ${noun(n, singular, plural)}`;
}
