import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { forgetSession, type Session, savedSession, saveSession } from './api.js';
import { JobDetail } from './pages/JobDetail.js';
import { Jobs } from './pages/Jobs.js';
import { Savings } from './pages/Savings.js';
import { SignIn } from './pages/SignIn.js';
import { Submit } from './pages/Submit.js';
import { Workers } from './pages/Workers.js';

/** The page a `#/…` address names: the server serves one document, the hash picks the page. */
type Route =
  | { page: 'jobs' }
  | { page: 'job'; id: string }
  | { page: 'submit' }
  | { page: 'workers' }
  | { page: 'savings' };

function routeOf(hash: string): Route {
  const path = hash.replace(/^#/, '');
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job) return { page: 'job', id: decodeURIComponent(job[1]) };
  if (path === '/submit') return { page: 'submit' };
  if (path === '/workers') return { page: 'workers' };
  if (path === '/savings') return { page: 'savings' };
  return { page: 'jobs' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/**
 * `spotfuse run --ui` opens the page at `#token=…`: the token is kept for this tab and taken out of the
 * address at once, so it stays out of the history and of anything copied from the address bar.
 */
function takeTokenFromAddress(): void {
  const m = /^#token=([^&]+)$/.exec(location.hash);
  if (!m) return;
  saveSession(decodeURIComponent(m[1]));
  history.replaceState(null, '', '#/jobs');
}

takeTokenFromAddress();

function App() {
  const [session, setSession] = useState<Session | undefined>(savedSession);
  const route = useRoute();
  // A new page starts at its heading, so keyboard and screen-reader users land on what changed.
  useEffect(() => {
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [route.page, session === undefined]);
  if (!session) return <SignIn onSignedIn={setSession} />;
  const signOut = () => {
    forgetSession();
    setSession(undefined);
  };
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/jobs">
          spotfuse
        </a>
        <nav aria-label="Pages">
          <a href="#/jobs" aria-current={route.page === 'jobs' ? 'page' : undefined}>
            Jobs
          </a>
          {session.role === 'tenant' && (
            <a href="#/submit" aria-current={route.page === 'submit' ? 'page' : undefined}>
              Submit
            </a>
          )}
          {session.role === 'admin' && (
            <>
              <a href="#/workers" aria-current={route.page === 'workers' ? 'page' : undefined}>
                Workers
              </a>
              <a href="#/savings" aria-current={route.page === 'savings' ? 'page' : undefined}>
                Savings
              </a>
            </>
          )}
        </nav>
        <span class="who">{session.role === 'admin' ? 'admin' : 'tenant'}</span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main id="main">
        {route.page === 'jobs' && <Jobs session={session} />}
        {route.page === 'job' && <JobDetail session={session} id={route.id} />}
        {route.page === 'submit' && <Submit session={session} />}
        {route.page === 'workers' && session.role === 'admin' && <Workers session={session} />}
        {route.page === 'savings' && session.role === 'admin' && <Savings session={session} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
