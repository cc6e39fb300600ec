import { describe, expect, it } from 'vitest';
import { count, formatBytes, noun } from '../../src/core/format.js';

describe('counts in lines people read', () => {
  it('use the singular for one and the plural otherwise', () => {
    expect(count(1, 'worker')).toBe('1 worker');
    expect(count(0, 'chunk')).toBe('0 chunks');
    expect(count(2, 'failure')).toBe('2 failures');
    expect(count(1, 'partial download')).toBe('1 partial download');
    expect(count(3, 'child', 'children')).toBe('3 children');
    expect(noun(1, 'worker')).toBe('worker');
    expect(noun(8, 'worker')).toBe('workers');
  });

  it('give sizes in decimal megabytes', () => {
    expect(formatBytes(554_253_681)).toBe('554.3 MB');
  });
});
