import { describe, expect, it } from 'vitest';
import { describeFailure, roleOf } from '../../src/web/api.js';

describe("the dashboard's words for API failures", () => {
  it('says what to do for each kind of refusal, never a bare status code', () => {
    expect(describeFailure(401, { error: 'invalid token' })).toBe(
      'The server did not accept this token: it is wrong or has been revoked. Sign in again.',
    );
    expect(describeFailure(403, { error: 'requires a tenant token' })).toBe(
      'This token may not do that: it requires a tenant token.',
    );
    expect(describeFailure(404, { error: 'no such job' })).toBe('There is no such job (or it is not yours).');
    expect(describeFailure(409, { error: 'job is already completed' })).toBe('Job is already completed.');
    expect(describeFailure(400, { error: 'invalid request', issues: ['processors: Too small'] })).toBe(
      'Invalid request (processors: Too small).',
    );
    expect(describeFailure(400, { error: 'unknown encoder "x" (see ffmpeg -encoders)' })).toBe(
      'Unknown encoder "x" (see ffmpeg -encoders).',
    );
    expect(describeFailure(429, { error: 'too many requests' })).toMatch(/^Too many requests .*try again\.$/);
    expect(describeFailure(500, { error: 'internal error', requestId: 'r-1' })).toBe(
      'The server failed to answer (request r-1). Try again; if it keeps failing, tell whoever runs it.',
    );
    expect(describeFailure(502, undefined)).toMatch(/^The server failed to answer\. /);
    expect(describeFailure(418, undefined)).toBe('The server refused the request (HTTP 418).');
  });

  it('tells tenant, worker and admin tokens apart by their prefix', () => {
    expect(roleOf(`sf_t_${'a'.repeat(43)}`)).toBe('tenant');
    expect(roleOf(`sf_w_${'a'.repeat(43)}`)).toBe('worker');
    expect(roleOf('any-admin-token-of-the-operator')).toBe('admin');
  });
});
