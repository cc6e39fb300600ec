import { UserError } from '../core/errors.js';
import { NOTIFY_EVENTS, type NotifyEvent, type NotifySpec, type OptionalNotifyEvent } from '../core/types.js';

/** Limits on one job's notification targets, checked at the CLI and the API alike. */
export const MAX_WEBHOOKS = 5;
export const MAX_EMAILS = 10;
export const MAX_WEBHOOK_URL_LENGTH = 2000;
export const MAX_EMAIL_LENGTH = 254;

/** A plain address: no display name, no spaces, a dotted domain. Deliverability is the SMTP server's call. */
export const EMAIL_ADDRESS =
  /^[^\s@<>(),;:"\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** Why `url` cannot be a webhook (http or https only, absolute, no credentials), or undefined. */
export function webhookUrlProblem(url: string): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_LENGTH)
    return `a webhook URL is at most ${MAX_WEBHOOK_URL_LENGTH} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `not a URL: ${url}`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return `a webhook URL is http:// or https://, not ${parsed.protocol}`;
  if (parsed.username || parsed.password) return 'a webhook URL carries no user or password';
  return undefined;
}

export function emailProblem(address: string): string | undefined {
  if (address.length > MAX_EMAIL_LENGTH || !EMAIL_ADDRESS.test(address))
    return `not an email address: ${address}`;
  return undefined;
}

const OPTIONAL_EVENTS: readonly OptionalNotifyEvent[] = ['job.progress', 'task.preempted'];

/**
 * A job's notification settings from what a user gave, or undefined when there are no targets; throws a
 * UserError naming the first problem. A job's end (`job.completed`, `job.failed`, `job.cancelled`) may be named but is always on.
 */
export function notifySpec(
  webhooks: readonly string[],
  emails: readonly string[],
  events: readonly string[] = [],
): NotifySpec | undefined {
  if (webhooks.length > MAX_WEBHOOKS) throw new UserError(`at most ${MAX_WEBHOOKS} webhooks per job`);
  if (emails.length > MAX_EMAILS) throw new UserError(`at most ${MAX_EMAILS} email addresses per job`);
  const problem = [...webhooks.map(webhookUrlProblem), ...emails.map(emailProblem)].find(Boolean);
  if (problem) throw new UserError(problem);
  for (const event of events) {
    if (!(NOTIFY_EVENTS as readonly string[]).includes(event))
      throw new UserError(`unknown event "${event}" (events: ${NOTIFY_EVENTS.join(', ')})`);
  }
  if (webhooks.length === 0 && emails.length === 0) return undefined;
  return {
    webhooks: [...new Set(webhooks)],
    emails: [...new Set(emails)],
    events: OPTIONAL_EVENTS.filter((e) => events.includes(e as NotifyEvent)),
  };
}
