/**
 * Azure Instance Metadata Service (IMDS), http://169.254.169.254, every request with `Metadata: true`:
 * - Scheduled Events: `GET /metadata/scheduledevents?api-version=2020-07-01` answers
 *   `{"DocumentIncarnation": n, "Events": [{"EventId", "EventType": "Freeze"|"Reboot"|"Redeploy"|"Preempt"|
 *   "Terminate", "ResourceType": "VirtualMachine", "Resources": [vm names], "EventStatus": "Scheduled"|
 *   "Started", "NotBefore", ...}]}`. `Preempt` (Spot eviction) comes at least 30 s ahead, `Terminate`
 *   (scale-set delete) 5-15 min. Events go to every VM of an availability set / scale-set placement group,
 *   so `Resources` is compared with this VM's name. The first call turns the service on and may take up to
 *   two minutes. `POST` of `{"StartRequests": [{"EventId": ...}]}` approves an event: Azure may then go
 *   ahead at once, so by default that is sent from `stop()`, after the worker has flushed and released.
 *   https://learn.microsoft.com/azure/virtual-machines/linux/scheduled-events
 * - Instance: `GET /metadata/instance/compute?api-version=2021-02-01` (JSON: `name`, `vmSize`, `location`,
 *   `zone`, `priority` = `Spot` | `Regular` | `Low`, ...); a leaf such as `compute/name` needs `format=text`.
 *   https://learn.microsoft.com/azure/virtual-machines/instance-metadata-service
 */
import { errorText, metadataRequest, sleep } from './http.js';
import type { InstanceFacts, Log } from './types.js';
import { HttpStatusError, MetadataWatcher } from './watcher.js';

const HEADERS = { metadata: 'true' };
const EVENTS_PATH = '/metadata/scheduledevents?api-version=2020-07-01';
const NAME_PATH = '/metadata/instance/compute/name?api-version=2021-02-01&format=text';
const COMPUTE_PATH = '/metadata/instance/compute?api-version=2021-02-01';
/** The first Scheduled Events call of a VM switches the service on and can take up to two minutes. */
const FIRST_CALL_TIMEOUT_MS = 120_000;

export interface AzureScheduledEvent {
  EventId: string;
  EventType: string;
  ResourceType?: string;
  Resources?: string[];
  EventStatus?: string;
  NotBefore?: string;
  Description?: string;
  EventSource?: string;
  DurationInSeconds?: number;
}

export interface AzureWatcherOptions {
  /** Base URL of IMDS (default http://169.254.169.254). */
  endpoint: string;
  /** Pause between polls (default 1000; IMDS allows 5 requests per second). */
  intervalMs?: number;
  /** Deadline per request after the first (default 5000). */
  requestTimeoutMs?: number;
  /** Event types that count as a notice (default Preempt and Terminate). */
  eventTypes?: string[];
  /**
   * When to approve the event: `on-stop` (default) once the worker is done and calls `stop()`,
   * `immediately` on detection, or `never` (Azure then proceeds at `NotBefore`).
   */
  acknowledge?: 'on-stop' | 'immediately' | 'never';
  log?: Log;
}

export class AzureWatcher extends MetadataWatcher {
  readonly name = 'azure';
  private readonly base: string;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly eventTypes: Set<string>;
  private readonly acknowledge: 'on-stop' | 'immediately' | 'never';
  private vmName: string | undefined;
  private naming: Promise<void> | undefined;
  private nameFailed = false;
  private pending: AzureScheduledEvent | undefined;
  private acknowledged = false;

  constructor(options: AzureWatcherOptions) {
    super(options.log);
    this.base = options.endpoint.replace(/\/+$/, '');
    this.intervalMs = options.intervalMs ?? 1000;
    this.timeoutMs = options.requestTimeoutMs ?? 5000;
    this.eventTypes = new Set(options.eventTypes ?? ['Preempt', 'Terminate']);
    this.acknowledge = options.acknowledge ?? 'on-stop';
  }

  protected async run(signal: AbortSignal): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      // In parallel: a slow name lookup must not hold up the events.
      if (this.vmName === undefined && this.naming === undefined) {
        this.naming = this.fetchName(signal).finally(() => {
          this.naming = undefined;
        });
      }
      try {
        const response = await metadataRequest(`${this.base}${EVENTS_PATH}`, {
          headers: HEADERS,
          timeoutMs: first ? Math.max(FIRST_CALL_TIMEOUT_MS, this.timeoutMs) : this.timeoutMs,
          signal,
          unref: true,
        });
        if (response.status !== 200) throw new HttpStatusError(response.status);
        first = false;
        const document = JSON.parse(response.body) as { Events?: AzureScheduledEvent[] };
        this.succeeded();
        const event = (document.Events ?? []).find((e) => this.concernsUs(e));
        if (event) {
          this.pending = event;
          this.trigger(`azure:${event.EventType}`, {
            eventId: event.EventId,
            status: event.EventStatus,
            notBefore: event.NotBefore,
          });
          if (this.acknowledge === 'immediately') await this.approve();
          return;
        }
      } catch (error) {
        this.failed('scheduledevents', error);
      }
      await sleep(this.intervalMs, signal);
    }
  }

  override async stop(): Promise<void> {
    await super.stop();
    if (this.acknowledge === 'on-stop') await this.approve();
  }

  private concernsUs(event: AzureScheduledEvent): boolean {
    if (!this.eventTypes.has(event.EventType)) return false;
    const resources = event.Resources ?? [];
    if (resources.length === 0) return true;
    // While the name is being looked up the event is looked at again on the next poll; if the lookup failed
    // there is no telling, and a needless flush costs less than a missed eviction.
    if (this.vmName === undefined) return this.nameFailed;
    const name = this.vmName.toLowerCase();
    return resources.some((resource) => resource.toLowerCase() === name);
  }

  private async fetchName(signal: AbortSignal): Promise<void> {
    try {
      const response = await metadataRequest(`${this.base}${NAME_PATH}`, {
        headers: HEADERS,
        timeoutMs: this.timeoutMs,
        signal,
        unref: true,
      });
      const name = response.body.trim();
      if (response.status === 200 && name !== '') {
        this.vmName = name;
        return;
      }
    } catch {
      // Scheduled Events are still read; the name is asked for again on the next poll.
    }
    if (!signal.aborted) this.nameFailed = true;
  }

  /** Approves the event that gave the notice, once. Never throws. */
  private async approve(): Promise<void> {
    const event = this.pending;
    if (!event || this.acknowledged) return;
    this.acknowledged = true;
    try {
      const response = await metadataRequest(`${this.base}${EVENTS_PATH}`, {
        method: 'POST',
        headers: { ...HEADERS, 'content-type': 'application/json' },
        body: JSON.stringify({ StartRequests: [{ EventId: event.EventId }] }),
        timeoutMs: this.timeoutMs,
      });
      this.log('approved scheduled event', {
        cloud: 'azure',
        eventId: event.EventId,
        status: response.status,
      });
    } catch (error) {
      this.log('could not approve scheduled event', {
        cloud: 'azure',
        eventId: event.EventId,
        error: errorText(error),
      });
    }
  }
}

async function compute(
  base: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Record<string, unknown> | undefined> {
  const response = await metadataRequest(`${base}${COMPUTE_PATH}`, { headers: HEADERS, timeoutMs, signal });
  if (response.status !== 200) return undefined;
  try {
    const value: unknown = JSON.parse(response.body);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export async function probeAzure(base: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const value = await compute(base, timeoutMs, signal);
  return typeof value?.vmId === 'string' || typeof value?.name === 'string';
}

export async function azureFacts(
  base: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<InstanceFacts> {
  const value = await compute(base, timeoutMs, signal).catch(() => undefined);
  const string = (key: string) => {
    const v = value?.[key];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const location = string('location');
  const zone = string('zone');
  const priority = string('priority')?.toLowerCase();
  return {
    cloud: 'azure',
    instanceType: string('vmSize'),
    // Azure zones are numbers within a region ("1"): keep the region in front.
    zone: zone && location ? `${location}-${zone}` : location,
    lifecycle:
      priority === 'spot' || priority === 'low' ? 'spot' : priority === 'regular' ? 'on-demand' : undefined,
  };
}
