import { useState } from 'preact/hooks';
import type { JobListEntry, JobListResponse } from '../../protocol/jobViews.js';
import { api, type Session } from '../api.js';
import { JobActions } from '../components/JobActions.js';
import { ProgressBar } from '../components/ProgressBar.js';
import { dollars, duration } from '../format.js';
import { usePolling } from '../polling.js';

type JobState = JobListEntry['state'];

const STATES: JobState[] = ['running', 'merging', 'completed', 'failed', 'canceled'];

function JobRow({ job, session, onChanged }: { job: JobListEntry; session: Session; onChanged: () => void }) {
  const p = job.progress;
  return (
    <li class="job" data-job={job.id} data-state={job.state}>
      <div class="job-head">
        <a href={`#/jobs/${encodeURIComponent(job.id)}`} class="job-id">
          {job.id}
        </a>
        <span class={`state state-${job.state}`}>{job.state}</span>
        {job.tenant !== undefined && <span class="tenant">{job.tenant ?? 'no tenant'}</span>}
      </div>
      <ProgressBar done={p?.framesDone ?? 0} total={job.frames} label={`Progress of job ${job.id}`} />
      {p && (
        <dl class="figures">
          <div>
            <dt>frames/s</dt>
            <dd>{p.fps > 0 ? p.fps.toFixed(1) : '–'}</dd>
          </div>
          <div>
            <dt>ETA</dt>
            <dd>{p.etaSeconds === null ? '–' : duration(p.etaSeconds)}</dd>
          </div>
          <div>
            <dt>interruptions</dt>
            <dd class="interruptions">{p.interruptions}</dd>
          </div>
          <div>
            <dt>paid</dt>
            <dd>{dollars(p.paid)}</dd>
          </div>
          <div>
            <dt>on demand</dt>
            <dd>{dollars(p.onDemand)}</dd>
          </div>
          <div>
            <dt>saving</dt>
            <dd>
              {dollars(p.saving)}
              {p.savingPercent !== null && ` (${p.savingPercent.toFixed(0)}\u00a0%)`}
            </dd>
          </div>
        </dl>
      )}
      {job.error && <p class="error">{job.error}</p>}
      <JobActions job={job} session={session} onChanged={onChanged} />
    </li>
  );
}

/** Every job the token may see, newest first, with live progress and cost. */
export function Jobs({ session }: { session: Session }) {
  const [filter, setFilter] = useState<JobState | 'all'>('all');
  const jobs = usePolling(() => api<JobListResponse>(session, '/v1/jobs?progress=true'), [session.token]);
  const shown = (jobs.data?.jobs ?? []).filter((j) => filter === 'all' || j.state === filter);
  return (
    <section>
      <h1 tabIndex={-1}>Jobs</h1>
      <div class="toolbar">
        <label for="state-filter">State</label>
        <select
          id="state-filter"
          value={filter}
          onChange={(e) => setFilter((e.target as HTMLSelectElement).value as JobState | 'all')}
        >
          <option value="all">all</option>
          {STATES.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
        <span class="live" aria-live="polite">
          {jobs.data ? `${shown.length} of ${jobs.data.jobs.length} jobs` : 'Loading…'}
        </span>
      </div>
      {jobs.error && (
        <p class="error" role="alert">
          {jobs.error}
        </p>
      )}
      {jobs.data && shown.length === 0 && <p>{filter === 'all' ? 'No jobs yet.' : `No ${filter} jobs.`}</p>}
      <ul class="jobs">
        {shown.map((job) => (
          <JobRow key={job.id} job={job} session={session} onChanged={jobs.refresh} />
        ))}
      </ul>
    </section>
  );
}
