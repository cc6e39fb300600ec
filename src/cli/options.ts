import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_UNREACHABLE_MS } from '../core/outage.js';
import { isOutputVideoFps, OUTPUT_VIDEO_FPS } from '../core/outputFrameRate.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number, 0 or more');
  return n;
}

export function percent(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be between 0 and 100');
  return n;
}

/** `-s a.jpg -s b.jpg` and `-s a.jpg b.jpg` both collect every source. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function unitInterval(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be between 0 and 1');
  return n;
}

/** A whole number of either sign (FaceFusion's `type = int`). */
export function integer(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
}

export function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number, 0 or more');
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `90s`, `15m`, `24h`, `7d` or a bare number of seconds (`0` included), in milliseconds. */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError('must be a duration such as 0, 90s, 15m, 24h or 7d');
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']);
}

/** A duration longer than 0. */
export function positiveDuration(value: string): number {
  const ms = duration(value);
  if (ms <= 0) throw new InvalidArgumentError('must be a duration longer than 0, such as 90s, 15m or 2h');
  return ms;
}

/**
 * A deadline as a duration from `now` (`90m`, `2h`) or a date and time (ISO 8601 with a zone, `2026-03-01T18:00Z`),
 * in epoch milliseconds; it must lie ahead.
 */
export function deadline(value: string, now = Date.now()): number {
  const text = value.trim();
  let at: number;
  if (/^\d+(?:\.\d+)?(ms|s|m|h|d)?$/.test(text)) at = now + duration(text);
  else if (/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})$/i.test(text)) at = Date.parse(text);
  else
    throw new InvalidArgumentError(
      'must be a duration such as 90m or 2h, or a time such as 2026-03-01T18:00Z',
    );
  if (!Number.isFinite(at)) throw new InvalidArgumentError(`${value} is not a valid time`);
  if (at <= now) throw new InvalidArgumentError(`${value} is not in the future`);
  return at;
}

/** A duration, or `forever` (Infinity): how long to keep something. */
export function retention(value: string): number {
  return value.trim().toLowerCase() === 'forever' ? Number.POSITIVE_INFINITY : duration(value);
}

/** FaceFusion's `--output-video-scale` and `--output-image-scale`: 0.25 to 8, in steps of 0.25. */
/** FaceFusion's `--output-video-fps`: a frame rate in its range. */
export function outputVideoFps(value: string): number {
  const fps = value.trim() === '' ? Number.NaN : Number(value);
  if (!isOutputVideoFps(fps))
    throw new InvalidArgumentError(
      `must be a number from ${OUTPUT_VIDEO_FPS.min} to ${OUTPUT_VIDEO_FPS.max}`,
    );
  return fps;
}

export function mediaScale(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.25 || n > 8 || !Number.isInteger(n * 4))
    throw new InvalidArgumentError('must be 0.25 to 8, in steps of 0.25');
  return n;
}

/**
 * `--unreachable-limit` (SPOTFUSE_UNREACHABLE_LIMIT): how long a command keeps trying a coordinator it
 * cannot reach (`what`: what else it keeps trying, and what it does at the end).
 */
export function unreachableLimitOption(what: string): Option {
  return new Option('--unreachable-limit <duration>', `keep trying a coordinator ${what}, e.g. 90s or 30m`)
    .env('SPOTFUSE_UNREACHABLE_LIMIT')
    .argParser(positiveDuration)
    .default(DEFAULT_UNREACHABLE_MS, `${DEFAULT_UNREACHABLE_MS / 60_000}m`);
}
