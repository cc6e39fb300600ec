import { describe, expect, it } from 'vitest';
import { retryWhileStoreUnreachable } from '../../src/worker/storeRetry.js';
import { HttpError } from '../../src/worker/transfer.js';

const options = (extra: Partial<Parameters<typeof retryWhileStoreUnreachable>[1]> = {}) => {
  const lines: string[] = [];
  return {
    lines,
    options: {
      until: 60_000,
      stopped: () => false,
      signal: new AbortController().signal,
      log: (line: string) => lines.push(line),
      firstPauseMs: 1,
      ...extra,
    },
  };
};

/** A run that fails with each of `errors` in turn, then answers 'done'. */
function failing(errors: Error[]) {
  let calls = 0;
  const run = async () => {
    const error = errors[calls++];
    if (error) throw error;
    return 'done';
  };
  return { run, calls: () => calls };
}

describe('retryWhileStoreUnreachable', () => {
  it('runs again while the object store is out of reach: network failures, ffmpeg reading a URL, 5xx', async () => {
    const reset = new Error('cannot decode frames 100–200 of http://s3/in.mp4: Connection reset by peer');
    // fetch's failures: before the answer, and a body cut off halfway.
    const fetchFailures = [new TypeError('fetch failed'), new TypeError('terminated')];
    const task = failing([...fetchFailures, reset, new HttpError('upload', 503, 'SlowDown')]);
    const { lines, options: o } = options();
    expect(await retryWhileStoreUnreachable(task.run, o)).toBe('done');
    expect(task.calls()).toBe(5);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^object store unreachable \(cannot decode .*Connection reset by peer\)$/);
  });

  it("gives up at once on the task's own errors, and when told to stop", async () => {
    const own = failing([new Error('no face in the source image')]);
    await expect(retryWhileStoreUnreachable(own.run, options().options)).rejects.toThrow(/no face/);
    expect(own.calls()).toBe(1);
    const bug = failing([new TypeError("Cannot read properties of undefined (reading 'width')")]);
    await expect(retryWhileStoreUnreachable(bug.run, options().options)).rejects.toThrow(/width/);
    expect(bug.calls()).toBe(1);
    const refused = failing([new HttpError('upload', 403, 'AccessDenied')]);
    await expect(retryWhileStoreUnreachable(refused.run, options().options)).rejects.toThrow(/403/);
    const stopped = failing([new TypeError('fetch failed')]);
    await expect(
      retryWhileStoreUnreachable(stopped.run, options({ stopped: () => true }).options),
    ).rejects.toThrow(/fetch failed/);
    expect(stopped.calls()).toBe(1);
  });

  it('gives up once the store has been out of reach for longer than allowed', async () => {
    const down = failing(Array.from({ length: 100 }, () => new TypeError('fetch failed')));
    await expect(
      retryWhileStoreUnreachable(down.run, options({ until: 50, firstPauseMs: 20 }).options),
    ).rejects.toThrow(/fetch failed/);
    // 20 + 40 ms of pauses would pass 50 ms: two tries, not a hundred.
    expect(down.calls()).toBe(2);
  });
});
