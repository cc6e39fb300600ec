import { createServer } from 'node:net';
import { expect, it } from 'vitest';
import { fetchFailureReason, messageWithCause } from '../../src/core/errors.js';

/** What `fetch` throws for a loopback port nothing listens on. */
async function refusedFetch(): Promise<unknown> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return fetch(`http://127.0.0.1:${port}/`).then(
    () => undefined,
    (error: unknown) => error,
  );
}

it('says why a fetch failed, where fetch itself says only "fetch failed"', async () => {
  const error = await refusedFetch();
  expect((error as Error).message).toBe('fetch failed');
  expect(fetchFailureReason(error)).toBe('ECONNREFUSED');
  expect(messageWithCause(error)).toBe('fetch failed (ECONNREFUSED)');
});

it('leaves an error without a cause, or whose message already holds it, as it is', () => {
  expect(messageWithCause(new Error('moov atom not found'))).toBe('moov atom not found');
  expect(fetchFailureReason(new Error('moov atom not found'))).toBe('moov atom not found');
  const told = new Error('connect ECONNREFUSED 127.0.0.1:1', { cause: { code: 'ECONNREFUSED' } });
  expect(messageWithCause(told)).toBe('connect ECONNREFUSED 127.0.0.1:1');
  const lost = new Error('the flush connection was lost', { cause: new Error('the connection ended') });
  expect(messageWithCause(lost)).toBe('the flush connection was lost (the connection ended)');
});
