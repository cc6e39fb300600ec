/**
 * SQLSTATEs of a database that is going away or not back yet: class 08 (connection exception),
 * 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up, recovering).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123])$/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
/** node-postgres's words for a connection it lost or could not get in time. */
const CLIENT_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect)/;

/**
 * The coordinator could not reach what it stands on (the database restarting or failing over, a network
 * hiccup): nothing is wrong with the call, and the same call in a moment may well succeed.
 */
export function serviceUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || NETWORK_CODES.has(code))) return true;
  return error instanceof Error && CLIENT_MESSAGES.test(error.message);
}
