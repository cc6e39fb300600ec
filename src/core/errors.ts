/** An error the user caused and can fix (bad path, unreadable video, unknown processor): printed as one line. */
export class UserError extends Error {
  override readonly name = 'UserError';
}
