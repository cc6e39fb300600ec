import nodemailer, { type Transporter, type TransportOptions } from 'nodemailer';
import type { Notification } from '../store/store.js';
import { jobSummaryLines } from './jobSummary.js';
import { type DeliveryOutcome, type EventBody, type Notifier, parseEventBody } from './outbox.js';

export interface EmailSenderOptions {
  /**
   * `smtp://user:pass@host:587` (STARTTLS when the server offers it), `smtps://user:pass@host:465`
   * (TLS from the start); nodemailer's query options apply (`?requireTLS=true`, `?ignoreTLS=true`).
   */
  smtpUrl: string;
  /** The From address, e.g. `spotfuse <noreply@example.com>`. */
  from: string;
  /** Connecting, greeting and each socket wait (default 30 s). */
  timeoutMs?: number;
}

const END_OUTCOME: Partial<Record<EventBody['type'], string>> = {
  'job.completed': 'completed',
  'job.failed': 'failed',
  'job.cancelled': 'was cancelled',
};

/** Subject and plain-text body of a job's end, for people: what happened, where the result is, what it took. */
export function formatEmail(body: EventBody): { subject: string; text: string } {
  const { data } = body;
  const outcome = END_OUTCOME[body.type] ?? 'failed';
  const lines = [
    `Job ${data.jobId} ${outcome}.`,
    '',
    ...(data.resultUrl ? [`Result: ${data.resultUrl}`] : []),
    ...(data.report.error ? [`Error: ${data.report.error}`] : []),
    ...jobSummaryLines(data.report),
  ];
  return { subject: `spotfuse: job ${data.jobId} ${outcome}`, text: `${lines.join('\n')}\n` };
}

/** Sends a job's end by email over SMTP. An SMTP rejection or a network error is a failure to retry. */
export class EmailSender implements Notifier {
  private readonly transport: Transporter;

  constructor(private readonly options: EmailSenderOptions) {
    const timeout = options.timeoutMs ?? 30_000;
    this.transport = nodemailer.createTransport({
      url: options.smtpUrl,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    } as TransportOptions);
  }

  async send(notification: Notification): Promise<DeliveryOutcome> {
    const { subject, text } = formatEmail(parseEventBody(notification.payload));
    try {
      const info = await this.transport.sendMail({
        from: this.options.from,
        to: notification.target,
        subject,
        text,
        // The same id on every retry lets a mail system drop a duplicate.
        messageId: `<${notification.id}@spotfuse>`,
      });
      return { delivered: true, statusCode: smtpCode(info.response), error: null };
    } catch (error) {
      const err = error as Error & { responseCode?: number };
      return { delivered: false, statusCode: err.responseCode ?? null, error: err.message };
    }
  }

  close(): void {
    this.transport.close();
  }
}

function smtpCode(response: unknown): number | null {
  const m = typeof response === 'string' ? /^(\d{3})/.exec(response) : null;
  return m ? Number(m[1]) : null;
}
