import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationDispatcher } from '../../src/coordinator/notifications.js';
import { loadPriceTable } from '../../src/cost/prices.js';
import type { Store } from '../../src/store/store.js';
import { backends, completeJob, createJob } from './backends.js';

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on loopback: plain text, login required, the first RCPT answered 451 when asked. */
async function startSmtp(options: { failFirstRecipient?: boolean } = {}) {
  const mails: Mail[] = [];
  let recipients = 0;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'mailer' && auth.password === 's3cret') callback(null, { user: 'mailer' });
      else callback(new Error('bad login'));
    },
    onRcptTo(_address, _session, callback) {
      if (options.failFirstRecipient && recipients++ === 0) {
        const err = new Error('try again later') as Error & { responseCode: number };
        err.responseCode = 451;
        callback(err);
      } else callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The text part of a message, quoted-printable soft breaks joined. */
function bodyOf(raw: string): string {
  return raw.slice(raw.indexOf('\r\n\r\n') + 4).replace(/=\r\n/g, '');
}

const sqlite = backends[0];

describe('email notifications over SMTP', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function setup(options: { failFirstRecipient?: boolean } = {}) {
    const smtp = await startSmtp(options);
    closers.push(smtp.close);
    const { store } = await sqlite.open();
    closers.push(() => store.close());
    const notify = notificationDispatcher(
      store,
      {
        smtpUrl: `smtp://mailer:s3cret@127.0.0.1:${smtp.port}`,
        smtpFrom: 'spotfuse <jobs@spotfuse.example>',
        publicUrl: 'https://spotfuse.example',
      },
      loadPriceTable(),
      { backoff: { baseMs: 50, maxMs: 100, maxAttempts: 4, jitter: 0 } },
    );
    closers.push(() => notify.close());
    return { smtp, store, dispatcher: notify.dispatcher };
  }

  async function deliverAll(store: Store, jobId: string, round: () => Promise<unknown>) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const rows = await store.listNotifications(jobId);
      if (rows.length > 0 && rows.every((n) => n.state === 'delivered')) return rows;
      if (Date.now() > deadline) throw new Error(`not delivered: ${JSON.stringify(rows)}`);
      await round();
      await sleep(20);
    }
  }

  it('mails the recipient a completed job with its id, result link and summary', async () => {
    const { smtp, store, dispatcher } = await setup();
    const job = await createJob(store, { webhooks: [], emails: ['owner@example.com'], events: [] });
    await completeJob(store, job.id);
    await deliverAll(store, job.id, () => dispatcher.runOnce());
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail.to).toEqual(['owner@example.com']);
    expect(mail.from).toBe('jobs@spotfuse.example');
    expect(mail.raw).toMatch(new RegExp(`^Subject: spotfuse: job ${job.id} completed\\r$`, 'm'));
    const body = bodyOf(mail.raw);
    expect(body).toContain(`Job ${job.id} completed.`);
    expect(body).toContain('Result: file:///videos/out.mp4');
    expect(body).toContain('Frames: 10');
    expect(body).toMatch(/Wall time: \d+\.\d s/);
    expect(body).toMatch(/Interruptions: 0 \(0 frames redone\)/);
    expect(body).toMatch(/^Cost: \$[\d.]+ paid, \$[\d.]+ at on-demand prices; GPU time \d+m\d\ds/m);
    const [attempt] = await store.listDeliveryAttempts(job.id);
    expect(attempt).toMatchObject({ channel: 'email', statusCode: 250, delivered: true });
  });

  it('mails the recipient a cancelled job, with no result link', async () => {
    const { smtp, store, dispatcher } = await setup();
    const job = await createJob(store, { webhooks: [], emails: ['owner@example.com'], events: [] });
    expect(await store.cancelJob(job.id, 3000)).toBe(true);
    await deliverAll(store, job.id, () => dispatcher.runOnce());
    expect(smtp.mails).toHaveLength(1);
    const [mail] = smtp.mails;
    expect(mail.raw).toMatch(new RegExp(`^Subject: spotfuse: job ${job.id} was cancelled\\r$`, 'm'));
    const body = bodyOf(mail.raw);
    expect(body).toContain(`Job ${job.id} was cancelled.`);
    expect(body).not.toContain('Result:');
  });

  it('retries a recipient the server refused for now', async () => {
    const { smtp, store, dispatcher } = await setup({ failFirstRecipient: true });
    const job = await createJob(store, { webhooks: [], emails: ['owner@example.com'], events: [] });
    await completeJob(store, job.id);
    await deliverAll(store, job.id, () => dispatcher.runOnce());
    expect(smtp.mails).toHaveLength(1);
    const attempts = await store.listDeliveryAttempts(job.id);
    expect(attempts.map((a) => [a.attempt, a.statusCode, a.delivered])).toEqual([
      [1, 451, false],
      [2, 250, true],
    ]);
    expect(attempts[0].error).toMatch(/try again later/);
  });
});
