import { useEffect, useState } from 'preact/hooks';
import type { FleetView } from '../../protocol/jobViews.js';
import { api, type Session } from '../api.js';
import { Chart } from '../components/Chart.js';
import { clock, duration } from '../format.js';
import { usePolling } from '../polling.js';

/** Samples of the queue kept while the page is open (the server keeps no history; Prometheus does). */
const QUEUE_SAMPLES = 400;

/** The workers holding leases now, what they run and on what, and the queue depth since the page opened. */
export function Workers({ session }: { session: Session }) {
  const fleet = usePolling(() => api<FleetView>(session, '/v1/workers'), [session.token]);
  const [queue, setQueue] = useState<{ times: number[]; values: number[] }>({ times: [], values: [] });
  const f = fleet.data;
  useEffect(() => {
    if (!f) return;
    setQueue((q) => ({
      times: [...q.times, f.now].slice(-QUEUE_SAMPLES),
      values: [...q.values, f.queued].slice(-QUEUE_SAMPLES),
    }));
  }, [f]);
  return (
    <section>
      <h1 tabIndex={-1}>Workers</h1>
      {fleet.error && (
        <p class="error" role="alert">
          {fleet.error}
        </p>
      )}
      {!f && !fleet.error && <p>Loading…</p>}
      {f && (
        <>
          <p class="summary">
            <strong data-figure="workers">{f.workers.length}</strong> workers busy,{' '}
            <strong data-figure="queued">{f.queued}</strong> tasks waiting, {f.activeJobs} jobs under way.
          </p>
          <Chart
            title="Tasks waiting (since this page opened)"
            unit="tasks"
            times={queue.times}
            series={[{ label: 'waiting', color: '--running', values: queue.values }]}
          />
          {f.workers.length === 0 ? (
            <p>No worker holds a task right now.</p>
          ) : (
            <div class="scroll">
              <table class="workers">
                <caption>Workers holding a task</caption>
                <thead>
                  <tr>
                    <th scope="col">Worker</th>
                    <th scope="col">Lifecycle</th>
                    <th scope="col">Instance type</th>
                    <th scope="col">Zone</th>
                    <th scope="col">Task</th>
                    <th scope="col">Frames/s</th>
                    <th scope="col">GPU</th>
                    <th scope="col">Running for</th>
                    <th scope="col">Lease until</th>
                  </tr>
                </thead>
                <tbody>
                  {f.workers.map((w) => (
                    <tr data-worker={w.worker}>
                      <td>{w.worker}</td>
                      <td>{w.lifecycle ?? '–'}</td>
                      <td>{w.instanceType ?? '–'}</td>
                      <td>{w.zone ?? '–'}</td>
                      <td>
                        <a href={`#/jobs/${encodeURIComponent(w.jobId)}`}>
                          {w.taskKind === 'merge' ? 'merge' : `frames ${w.range.start}–${w.range.end}`}
                        </a>
                      </td>
                      <td>{w.fps === null ? '–' : w.fps.toFixed(1)}</td>
                      <td>{w.gpuUtilization === null ? '–' : `${w.gpuUtilization.toFixed(0)} %`}</td>
                      <td>{duration((f.now - w.startedAt) / 1000)}</td>
                      <td>{w.leaseExpiresAt === null ? '–' : clock(w.leaseExpiresAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
