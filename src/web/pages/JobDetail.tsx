import type { DeliveriesView, JobStatusView, JobTimeline } from '../../protocol/jobViews.js';
import { api, type Session } from '../api.js';
import { JobActions } from '../components/JobActions.js';
import { ProgressBar } from '../components/ProgressBar.js';
import { AttemptTable, Timeline } from '../components/Timeline.js';
import { clock, dollars, duration } from '../format.js';
import { usePolling } from '../polling.js';

interface Detail {
  report: JobStatusView;
  timeline: JobTimeline;
  deliveries: DeliveriesView;
}

function Totals({ report }: { report: JobStatusView }) {
  const c = report.cost;
  const figures: [string, string][] = [
    ['tasks done', `${report.tasksDone} / ${report.tasks}`],
    ['attempts', String(report.attempts)],
    ['interruptions', String(report.interruptions)],
    ['failures', String(report.failures)],
    ['frames redone', String(report.framesRedone)],
    ['wall time', duration(report.wallSeconds)],
    ['GPU time', duration(c.gpuSeconds)],
    ['GPU time lost', duration(c.wastedGpuSeconds)],
    ['paid', dollars(c.paid)],
    ['on demand', dollars(c.onDemand)],
    [
      'saving',
      `${dollars(c.saving)}${c.savingPercent === null ? '' : ` (${c.savingPercent.toFixed(0)}\u00a0%)`}`,
    ],
  ];
  return (
    <dl class="figures totals">
      {figures.map(([name, value]) => (
        <div>
          <dt>{name}</dt>
          <dd data-figure={name}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Deliveries({ deliveries }: { deliveries: DeliveriesView }) {
  if (deliveries.notifications.length === 0) return <p>This job notifies nobody.</p>;
  return (
    <div class="scroll">
      <table>
        <caption>Webhooks and emails</caption>
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">To</th>
            <th scope="col">State</th>
            <th scope="col">Tries</th>
            <th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {deliveries.notifications.map((n) => (
            <tr>
              <td>{n.event}</td>
              <td>{n.target}</td>
              <td>
                {n.state}
                {n.deliveredAt !== null && ` at ${clock(n.deliveredAt)}`}
                {n.nextAttemptAt !== null && `, next try at ${clock(n.nextAttemptAt)}`}
              </td>
              <td>{n.attempts}</td>
              <td>{n.lastError ?? '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One job: progress, totals, the timeline of its attempts, its notifications and its JSON report. */
export function JobDetail({ session, id }: { session: Session; id: string }) {
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const detail = usePolling<Detail>(async () => {
    const [report, timeline, deliveries] = await Promise.all([
      api<JobStatusView>(session, path),
      api<JobTimeline>(session, `${path}/timeline`),
      api<DeliveriesView>(session, `${path}/deliveries`),
    ]);
    return { report, timeline, deliveries };
  }, [session.token, id]);
  const d = detail.data;
  return (
    <section>
      <p>
        <a href="#/jobs">← All jobs</a>
      </p>
      <h1 tabIndex={-1}>Job {id}</h1>
      {detail.error && (
        <p class="error" role="alert">
          {detail.error}
        </p>
      )}
      {!d && !detail.error && <p>Loading…</p>}
      {d && (
        <>
          <p>
            <span class={`state state-${d.report.state}`}>{d.report.state}</span>{' '}
            {d.report.processors.join(' → ')}, submitted {clock(d.report.createdAt)}
            {d.report.finishedAt !== null && `, ended ${clock(d.report.finishedAt)}`}
          </p>
          {d.report.error && <p class="error">{d.report.error}</p>}
          <ProgressBar done={d.report.framesDone} total={d.report.frames} label="Frames done" />
          <JobActions job={{ id, state: d.report.state }} session={session} onChanged={detail.refresh} />
          <h2>Totals</h2>
          <Totals report={d.report} />
          <h2>Timeline</h2>
          <Timeline timeline={d.timeline} />
          <AttemptTable timeline={d.timeline} />
          <h2>Notifications</h2>
          <Deliveries deliveries={d.deliveries} />
          <details>
            <summary>JSON report</summary>
            <pre class="json">{JSON.stringify(d.report, null, 2)}</pre>
          </details>
        </>
      )}
    </section>
  );
}
