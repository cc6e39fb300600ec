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
 * The reason an error keeps in its cause, in a system's words where it has them: a failed `fetch`'s message
 * is `fetch failed` whatever happened, and its cause says `ECONNREFUSED`, `ENOTFOUND` or `ECONNRESET` (for
 * an address tried over IPv4 and IPv6, its first try's, inside an AggregateError).
 */
export function causeOf(error: unknown): string | undefined {
  const cause = (
    error as { cause?: { code?: string; errors?: { code?: string }[]; message?: string } } | undefined
  )?.cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message;
}

/** Why a `fetch` got no answer: its cause's reason, or its own message. */
export function fetchFailureReason(error: unknown): string {
  return causeOf(error) ?? (error as Error).message;
}

/** An error's message and the reason in its cause, for log lines: `fetch failed (ECONNRESET)`. */
export function messageWithCause(error: unknown): string {
  const message = (error as Error | undefined)?.message ?? String(error);
  const cause = causeOf(error);
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}
