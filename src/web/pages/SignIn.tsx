import { useState } from 'preact/hooks';
import { ApiError, api, roleOf, type Session, saveSession } from '../api.js';

/** Asks for a tenant or admin token and checks it with the server before keeping it for this tab. */
export function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    const trimmed = token.trim();
    const role = roleOf(trimmed);
    if (role === 'worker') {
      setError('That is a worker token: sign in with a tenant token (sf_t_…) or the admin token.');
      return;
    }
    setBusy(true);
    setError(undefined);
    const session: Session = { token: trimmed, role };
    try {
      await api(session, '/v1/jobs');
      saveSession(trimmed);
      onSignedIn(session);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="signin">
      <h1 tabIndex={-1}>Sign in to spotfuse</h1>
      <form onSubmit={submit}>
        <label for="token">Tenant or admin token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby={error ? 'signin-error' : 'token-help'}
        />
        <p id="token-help" class="hint">
          The token is kept in this tab only and sent with each request; closing the tab signs you out.
        </p>
        {error && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
