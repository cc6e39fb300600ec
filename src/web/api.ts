import type { ApiErrorBody } from '../protocol/jobViews.js';

/** Who is signed in: the token is kept for this tab only (sessionStorage) and sent as a bearer token. */
const TOKEN_KEY = 'spotfuse.token';

export type Role = 'tenant' | 'admin';

export interface Session {
  token: string;
  role: Role;
}

/** Tenant tokens are `sf_t_…`, worker tokens `sf_w_…`; the admin token is the operator's own string. */
export function roleOf(token: string): Role | 'worker' {
  if (token.startsWith('sf_t_')) return 'tenant';
  if (token.startsWith('sf_w_')) return 'worker';
  return 'admin';
}

export function savedSession(): Session | undefined {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return undefined;
  const role = roleOf(token);
  return role === 'worker' ? undefined : { token, role };
}

export function saveSession(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetSession(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A refused or failed call, in words a person can act on; `status` 0 when the server was not reached. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** What went wrong, said plainly, from the status and the API's `{ error }` body. */
export function describeFailure(status: number, body: Partial<ApiErrorBody> | undefined): string {
  const said = body?.error;
  const issues = body?.issues?.length ? ` (${body.issues.join('; ')})` : '';
  if (status === 401)
    return 'The server did not accept this token: it is wrong or has been revoked. Sign in again.';
  if (status === 403) return `This token may not do that${said ? `: it ${said}` : ''}.`;
  if (status === 404) {
    if (said === 'no such job') return 'There is no such job (or it is not yours).';
    if (said?.startsWith('no such upload'))
      return 'That upload is not there (or not yours): choose the file again.';
    return 'Not found.';
  }
  if (status === 413) return `Too big: ${said ?? 'the server refused the size'}.`;
  if (status === 429) return 'Too many requests in a short time: wait a few seconds and try again.';
  // A busy or slow server says why (another preview running, a time limit): its words are meant for people.
  if (status === 503 && said) return `The server is busy: ${said}.`;
  if (status >= 500)
    return `The server failed to answer${body?.requestId ? ` (request ${body.requestId})` : ''}. Try again; if it keeps failing, tell whoever runs it.`;
  if (said) {
    const sentence = `${said.charAt(0).toUpperCase()}${said.slice(1)}${issues}`;
    return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
  }
  return `The server refused the request (HTTP ${status}).`;
}

/** Calls the spotfuse API with the session's token; throws ApiError with a plain message. */
export async function api<T>(
  session: Session,
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${session.token}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError(
      'Cannot reach the spotfuse server: check that it is running and that you are online.',
      0,
    );
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!response.ok)
    throw new ApiError(describeFailure(response.status, body as Partial<ApiErrorBody>), response.status);
  return body as T;
}
