import type { SavingsView } from '../../protocol/jobViews.js';
import { api, type Session } from '../api.js';
import { Chart } from '../components/Chart.js';
import { dollars, duration } from '../format.js';
import { usePolling } from '../polling.js';

/** What spot GPU time cost each day against the same time on demand, what was lost, and interruptions. */
export function Savings({ session }: { session: Session }) {
  // Days change slowly: asked again every 30 s, not at the pace of the job pages.
  const savings = usePolling(() => api<SavingsView>(session, '/v1/savings?days=14'), [session.token], 30_000);
  const s = savings.data;
  const times = s?.days.map((d) => Date.parse(`${d.day}T00:00:00Z`)) ?? [];
  const paid = s?.days.reduce((sum, d) => sum + d.paid, 0) ?? 0;
  const onDemand = s?.days.reduce((sum, d) => sum + d.onDemand, 0) ?? 0;
  return (
    <section>
      <h1 tabIndex={-1}>Savings</h1>
      {savings.error && (
        <p class="error" role="alert">
          {savings.error}
        </p>
      )}
      {!s && !savings.error && <p>Loading…</p>}
      {s && (
        <>
          <p class="summary">
            Last 14 days: paid <strong>{dollars(paid)}</strong> for GPU time that costs{' '}
            <strong>{dollars(onDemand)}</strong> on demand, a saving of{' '}
            <strong>{dollars(onDemand - paid)}</strong>.
          </p>
          <Chart
            title="Cost per day"
            unit="USD"
            times={times}
            series={[
              { label: 'paid', color: '--done', values: s.days.map((d) => d.paid), bars: true },
              { label: 'on demand', color: '--preempted', values: s.days.map((d) => d.onDemand) },
            ]}
          />
          <Chart
            title="GPU time lost to interruptions per day"
            unit="GPU hours"
            times={times}
            series={[
              {
                label: 'lost',
                color: '--failed',
                values: s.days.map((d) => d.wastedGpuSeconds / 3600),
                bars: true,
              },
            ]}
          />
          <Chart
            title="Interruptions per hour"
            unit="interruptions"
            times={s.interruptionsByHour.map((h) => Date.parse(`${h.hour}:00:00Z`))}
            series={[
              {
                label: 'interruptions',
                color: '--preempted',
                values: s.interruptionsByHour.map((h) => h.count),
                bars: true,
              },
            ]}
          />
          <div class="scroll">
            <table class="savings">
              <caption>Per day (UTC)</caption>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Paid</th>
                  <th scope="col">On demand</th>
                  <th scope="col">Saving</th>
                  <th scope="col">GPU time</th>
                  <th scope="col">Lost</th>
                  <th scope="col">Interruptions</th>
                </tr>
              </thead>
              <tbody>
                {s.days.map((d) => (
                  <tr data-day={d.day}>
                    <td>{d.day}</td>
                    <td>{dollars(d.paid)}</td>
                    <td>{dollars(d.onDemand)}</td>
                    <td>{dollars(d.onDemand - d.paid)}</td>
                    <td>{duration(d.gpuSeconds)}</td>
                    <td>{duration(d.wastedGpuSeconds)}</td>
                    <td>{d.interruptions}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
