import { useState } from 'preact/hooks';
import type { DownloadView } from '../../protocol/jobViews.js';
import { ApiError, api, type Session } from '../api.js';

/**
 * Cancel a job that still runs, retry a failed one (from its checkpoints), download one that completed.
 * Says why when the server refuses.
 */
export function JobActions({
  job,
  session,
  onChanged,
}: {
  job: { id: string; state: string };
  session: Session;
  onChanged: () => void;
}) {
  const [error, setError] = useState<string>();
  /** The output's URL, shown as a link when the browser blocked the tab that should have opened it. */
  const [blocked, setBlocked] = useState<string>();
  const [busy, setBusy] = useState(false);
  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  const cancel = () =>
    act(async () => {
      if (!confirm(`Cancel job ${job.id}? Work in progress is dropped.`)) return;
      await api(session, `/v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' });
      onChanged();
    });
  const retry = () =>
    act(async () => {
      await api(session, `/v1/jobs/${encodeURIComponent(job.id)}/retry`, { method: 'POST' });
      onChanged();
    });
  const download = () =>
    act(async () => {
      const { url } = await api<DownloadView>(session, `/v1/jobs/${encodeURIComponent(job.id)}/download`);
      // A tab of its own, so the dashboard stays open; the output's tab gets no handle on this one.
      const tab = window.open(url, '_blank');
      if (tab) tab.opener = null;
      else setBlocked(url);
    });
  const running = job.state === 'running' || job.state === 'merging';
  return (
    <div class="actions">
      {running && (
        <button type="button" class="danger" disabled={busy} onClick={cancel}>
          Cancel
        </button>
      )}
      {job.state === 'failed' && (
        <button type="button" disabled={busy} onClick={retry}>
          Retry
        </button>
      )}
      {job.state === 'completed' && (
        <button type="button" disabled={busy} onClick={download}>
          Download
        </button>
      )}
      {blocked && (
        <a href={blocked} target="_blank" rel="noopener noreferrer">
          Open the output of job {job.id}
        </a>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
