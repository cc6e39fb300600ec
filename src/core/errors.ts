/** An error the user caused and can fix (bad path, unreadable video, unknown processor): printed as one line. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/**
 * A caller broke the protocol (a worker checkpoints a segment that does not continue its task, completes a
 * task with frames missing): the API answers `status` with the message. Only these errors, UserErrors and
 * validation errors are the caller's fault: any other error, a RangeError from a bug included, is a 500.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  constructor(
    message: string,
    /** 400: the request can never succeed; 409: it conflicts with the state it reached. */
    readonly status: 400 | 409 = 400,
  ) {
    super(message);
  }
}

/**
 * Why a `fetch` got no answer, in a system's words where it has them (`ECONNREFUSED`, `ENOTFOUND`): fetch's
 * own message is `fetch failed` whatever happened, with the reason in its cause.
 */
export function fetchFailureReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
