import type { Command } from 'commander';
import type { NotificationSettings } from '../coordinator/notifications.js';
import { UserError } from '../core/errors.js';
import type { NotifySpec } from '../core/types.js';
import { notifySpec } from '../notify/targets.js';
import { collect } from './options.js';

/** Who hears about a job, as `run` and `submit` take it. */
export interface JobNotifyFlags {
  webhook: string[];
  email: string[];
  notifyProgress?: boolean;
  notifyPreempted?: boolean;
}

export interface SmtpFlags {
  smtpUrl?: string;
  smtpFrom?: string;
  publicUrl?: string;
  /** Server only: tenants' webhooks may go to private addresses. Embedded runs always may. */
  webhookAllowPrivate?: boolean;
}

export function addJobNotifyOptions(command: Command): Command {
  return command
    .option('--webhook <url>', 'POST signed job events to this URL (repeatable)', collect, [])
    .option('--email <address>', 'email this address when the job ends (repeatable)', collect, [])
    .option('--notify-progress', 'also send job.progress events (at most one per 30 s)')
    .option('--notify-preempted', 'also send task.preempted events');
}

export function addSmtpOptions(command: Command): Command {
  const env = process.env;
  return command
    .option(
      '--smtp-url <url>',
      'SMTP server for --email: smtp://user:pass@host:587 or smtps://user:pass@host:465 (SPOTFUSE_SMTP_URL)',
      env.SPOTFUSE_SMTP_URL,
    )
    .option(
      '--smtp-from <address>',
      'From address of notification emails (SPOTFUSE_SMTP_FROM)',
      env.SPOTFUSE_SMTP_FROM,
    );
}

/** The job's notification settings from its flags; a bad URL or address is a UserError. */
export function jobNotifySpec(flags: JobNotifyFlags): NotifySpec | undefined {
  return notifySpec(flags.webhook ?? [], flags.email ?? [], jobNotifyEvents(flags));
}

export function jobNotifyEvents(flags: JobNotifyFlags): string[] {
  return [
    ...(flags.notifyProgress ? ['job.progress'] : []),
    ...(flags.notifyPreempted ? ['task.preempted'] : []),
  ];
}

/** SMTP and result-link settings of a coordinator (server) or an embedded run, checked. */
export function notificationFlags(flags: SmtpFlags): NotificationSettings {
  if (flags.smtpUrl !== undefined && !/^smtps?:\/\/[^/]/i.test(flags.smtpUrl))
    throw new UserError('--smtp-url must be smtp://[user:pass@]host[:port] or smtps://…');
  if (flags.publicUrl !== undefined && !/^https?:\/\/[^/]/i.test(flags.publicUrl))
    throw new UserError('--public-url must be an http:// or https:// address');
  return {
    smtpUrl: flags.smtpUrl,
    smtpFrom: flags.smtpFrom,
    publicUrl: flags.publicUrl,
    allowPrivateWebhooks: flags.webhookAllowPrivate ?? true,
  };
}
