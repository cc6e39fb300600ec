import { percent } from '../format.js';

/** Frames done of a total, as a bar and in words. */
export function ProgressBar({ done, total, label }: { done: number; total: number; label: string }) {
  const value = percent(done, total);
  return (
    <div class="progress">
      <div
        class="bar"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={done}
      >
        <div class="fill" style={{ width: `${value}%` }} />
      </div>
      <span class="frames">
        {done} / {total} frames ({value.toFixed(0)} %)
      </span>
    </div>
  );
}
