import { InvalidArgumentError } from 'commander';
import { expect, it } from 'vitest';
import { deadline, mediaScale, positiveDuration } from '../../src/cli/options.js';

const NOW = Date.parse('2026-03-01T12:00:00Z');

it('reads --deadline as a duration from now or as a time with a zone, ahead of now', () => {
  expect(deadline('90m', NOW)).toBe(NOW + 90 * 60_000);
  expect(deadline('2h', NOW)).toBe(NOW + 2 * 3_600_000);
  expect(deadline('2026-03-01T18:00Z', NOW)).toBe(Date.parse('2026-03-01T18:00:00Z'));
  expect(deadline('2026-03-01T19:30:00+01:00', NOW)).toBe(Date.parse('2026-03-01T18:30:00Z'));
  for (const bad of ['soon', '2026-03-01T18:00', '2026-03-01T11:00Z', '0', '2026-13-45T99:00Z'])
    expect(() => deadline(bad, NOW), bad).toThrow(InvalidArgumentError);
  expect(positiveDuration('15m')).toBe(15 * 60_000);
  expect(() => positiveDuration('0')).toThrow(InvalidArgumentError);
});

it("reads FaceFusion's --output-image-scale / --output-video-scale range: 0.25 to 8 in steps of 0.25", () => {
  expect([mediaScale('0.25'), mediaScale('1'), mediaScale('2.5'), mediaScale('8')]).toEqual([
    0.25, 1, 2.5, 8,
  ]);
  for (const bad of ['0', '0.3', '8.25', 'x', '-1'])
    expect(() => mediaScale(bad), bad).toThrow(InvalidArgumentError);
});
