import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.js';

/** How often open pages ask the server again: live enough to watch a job, light on the coordinator. */
export const POLL_MS = 1500;

export interface Polled<T> {
  data: T | undefined;
  error: string | undefined;
  /** Asks again now (after an action such as cancel). */
  refresh: () => void;
}

/**
 * Calls `load` now and again `intervalMs` after each answer, while the page is open; `keys` restart it.
 * A tab in the background asks nothing until it is shown again. A failed call keeps the last data and
 * shows why; the next success clears the message.
 */
export function usePolling<T>(load: () => Promise<T>, keys: unknown[], intervalMs = POLL_MS): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const round = async () => {
      try {
        const value = await load();
        if (stopped) return;
        setData(value);
        setError(undefined);
      } catch (failure) {
        if (stopped) return;
        setError(failure instanceof ApiError ? failure.message : String(failure));
      }
      if (stopped) return;
      if (document.hidden) document.addEventListener('visibilitychange', whenShown);
      else timer = setTimeout(round, intervalMs);
    };
    const whenShown = () => {
      if (document.hidden) return;
      document.removeEventListener('visibilitychange', whenShown);
      void round();
    };
    void round();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      document.removeEventListener('visibilitychange', whenShown);
    };
  }, [...keys, tick]);
  return { data, error, refresh: () => setTick((t) => t + 1) };
}
