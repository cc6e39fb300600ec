import type { JobTimeline, TimelineAttempt, TimelineTask } from '../../protocol/jobViews.js';
import { clock, duration } from '../format.js';

/** Words for an attempt's outcome; `running` is still going. */
const OUTCOME_WORDS: Record<TimelineAttempt['outcome'], string> = {
  running: 'running',
  completed: 'done',
  preempted: 'preempted',
  error: 'failed',
  expired: 'expired (worker vanished)',
  interrupted: 'interrupted',
};

function machineOf(a: TimelineAttempt): string {
  const parts = [a.instanceType, a.zone, a.lifecycle].filter((p) => p !== null);
  return parts.length > 0 ? parts.join(', ') : 'machine not reported';
}

function describeAttempt(task: TimelineTask, a: TimelineAttempt, now: number): string {
  const end = a.endedAt ?? now;
  return (
    `Task ${task.range.start}–${task.range.end}, attempt ${a.epoch}: ${OUTCOME_WORDS[a.outcome]} on ${a.worker} ` +
    `(${machineOf(a)}), ${duration((end - a.startedAt) / 1000)}, ${a.framesDone} frames, ` +
    `${a.framesCheckpointed} checkpointed${a.error ? `: ${a.error}` : ''}`
  );
}

/**
 * One row per task, its attempts as bars on a shared time axis (job creation to its end, or now),
 * coloured by outcome. Checkpoints are ticks inside the attempt that wrote them, placed by frame: the
 * store keeps which frames a checkpoint covers, not when it was written.
 */
export function Timeline({ timeline }: { timeline: JobTimeline }) {
  const start = timeline.createdAt;
  const end = Math.max(timeline.finishedAt ?? timeline.now, start + 1);
  const at = (ms: number) => (100 * (Math.min(Math.max(ms, start), end) - start)) / (end - start);
  return (
    <div
      class="timeline"
      role="img"
      aria-label="Attempts of each task on a time axis; the table below lists them"
    >
      <div class="axis" aria-hidden="true">
        <span>{clock(start)}</span>
        <span>{timeline.finishedAt === null ? 'now' : clock(end)}</span>
      </div>
      <ol class="rows">
        {timeline.tasks.map((task) => (
          <li class="row" data-task={task.id}>
            <span class="row-label">
              {task.kind === 'merge' ? 'merge' : `frames ${task.range.start}–${task.range.end}`}
            </span>
            <div class="track">
              {task.attempts.map((a) => {
                const left = at(a.startedAt);
                const width = Math.max(at(a.endedAt ?? timeline.now) - left, 0.5);
                const words = describeAttempt(task, a, timeline.now);
                const checkpoints = task.checkpoints.filter((c) => c.epoch === a.epoch);
                // The attempt's frames: from its first checkpoint to its last, plus what it has in flight.
                const from = Math.min(...checkpoints.map((c) => c.range.start));
                const to =
                  Math.max(...checkpoints.map((c) => c.range.end)) +
                  Math.max(0, a.framesDone - a.framesCheckpointed);
                return (
                  <div
                    class={`attempt outcome-${a.outcome}`}
                    data-outcome={a.outcome}
                    style={{ left: `${left}%`, width: `${width}%` }}
                    title={words}
                  >
                    {checkpoints.map((c) => (
                      <span
                        class="tick"
                        title={`checkpoint: frames ${c.range.start}–${c.range.end}`}
                        style={{ left: `${(100 * (c.range.end - from)) / Math.max(to - from, 1)}%` }}
                      />
                    ))}
                  </div>
                );
              })}
            </div>
          </li>
        ))}
      </ol>
      <ul class="legend" aria-hidden="true">
        {(['completed', 'running', 'preempted', 'error', 'expired'] as const).map((o) => (
          <li>
            <span class={`swatch outcome-${o}`} /> {OUTCOME_WORDS[o]}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The same attempts as a table: every figure readable by keyboard, screen reader and on a phone. */
export function AttemptTable({ timeline }: { timeline: JobTimeline }) {
  const rows = timeline.tasks.flatMap((task) => task.attempts.map((a) => ({ task, a })));
  if (rows.length === 0) return <p>No worker has started on this job yet.</p>;
  return (
    <div class="scroll">
      <table class="attempts">
        <caption>Attempts</caption>
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">#</th>
            <th scope="col">Outcome</th>
            <th scope="col">Worker</th>
            <th scope="col">Instance type</th>
            <th scope="col">Zone</th>
            <th scope="col">Started</th>
            <th scope="col">Ran</th>
            <th scope="col">Frames</th>
            <th scope="col">Checkpoints</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ task, a }) => (
            <tr data-outcome={a.outcome}>
              <td>{task.kind === 'merge' ? 'merge' : `${task.range.start}–${task.range.end}`}</td>
              <td>{a.epoch}</td>
              <td>
                <span class={`swatch outcome-${a.outcome}`} /> {OUTCOME_WORDS[a.outcome]}
                {a.error ? `: ${a.error}` : ''}
              </td>
              <td>{a.worker}</td>
              <td>{a.instanceType ?? '–'}</td>
              <td>{a.zone ?? '–'}</td>
              <td>{clock(a.startedAt)}</td>
              <td>{duration(((a.endedAt ?? timeline.now) - a.startedAt) / 1000)}</td>
              <td>{a.framesDone}</td>
              <td>{task.checkpoints.filter((c) => c.epoch === a.epoch).length}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
