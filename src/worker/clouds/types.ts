/** Clouds whose metadata service says when a spot/preemptible instance is about to be taken away. */
export const CLOUDS = ['aws', 'gcp', 'azure', 'alibaba'] as const;
export type Cloud = (typeof CLOUDS)[number];

/** Base URL of each cloud's metadata service (scheme, host and port; no path). */
export type MetadataEndpoints = Partial<Record<Cloud, string>>;

export const DEFAULT_ENDPOINTS: Record<Cloud, string> = {
  aws: 'http://169.254.169.254',
  // metadata.google.internal resolves to this address; the address spares a DNS lookup off GCP.
  gcp: 'http://169.254.169.254',
  azure: 'http://169.254.169.254',
  alibaba: 'http://100.100.100.200',
};

export function endpointFor(cloud: Cloud, endpoints: MetadataEndpoints | undefined): string {
  return (endpoints?.[cloud] ?? DEFAULT_ENDPOINTS[cloud]).replace(/\/+$/, '');
}

export function isCloud(value: string): value is Cloud {
  return (CLOUDS as readonly string[]).includes(value);
}

export type Log = (message: string, fields?: Record<string, unknown>) => void;

/** Where a watcher reports the notice it found (the worker's PreemptionNotice). */
export interface NoticeSink {
  trigger(source: string): void;
  onNotice(listener: (source: string) => void): void;
}

/** Watches one source of preemption notices until stopped. */
export interface PreemptionWatcher {
  readonly name: string;
  /** Starts watching in the background; the first notice found is passed to `notice.trigger`. */
  start(notice: NoticeSink): void;
  /** Ends watching (in-flight requests are aborted) and resolves once nothing more will be sent. */
  stop(): Promise<void>;
}

/** What telemetry wants to know about the machine a worker runs on. Unknown parts are undefined. */
export interface InstanceFacts {
  cloud: Cloud;
  instanceType: string | undefined;
  zone: string | undefined;
  lifecycle: 'spot' | 'on-demand' | undefined;
}
