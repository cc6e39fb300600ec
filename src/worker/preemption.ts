/**
 * A notice that this worker is going away. The first notice is final: the worker stops claiming, flushes
 * its current segment as a checkpoint and releases its task as `preempted`.
 */
export class PreemptionNotice {
  private source: string | undefined;
  private readonly listeners: ((source: string) => void)[] = [];

  get requested(): boolean {
    return this.source !== undefined;
  }

  get reason(): string | undefined {
    return this.source;
  }

  trigger(source: string): void {
    if (this.source !== undefined) return;
    this.source = source;
    for (const listener of this.listeners) listener(source);
  }

  onNotice(listener: (source: string) => void): void {
    if (this.source !== undefined) listener(this.source);
    else this.listeners.push(listener);
  }
}

/** SIGTERM (Kubernetes, systemd, docker stop) and SIGINT count as a preemption notice. */
export function watchSignals(notice: PreemptionNotice): () => void {
  const onSignal = (signal: NodeJS.Signals) => notice.trigger(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
