import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EventBody } from '../../src/notify/outbox.js';
import { newWebhookSecret } from '../../src/notify/standardWebhooks.js';
import { cfrWithAudio } from '../fixtures/videos.js';
import { runCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';
import { startReceiver } from '../notify/receiver.js';

describe('spotfuse run --webhook (embedded, end to end)', () => {
  const dir = useTempDir();

  // Two workers on two chunks of three checkpoints each: `npm run test:node24` runs this file as its end-to-end
  // run (embedded server, worker processes, ffmpeg pipes, merge with audio, HTTP delivery) under Node 24.
  it('delivers a signed job.completed before exiting', async () => {
    const secret = newWebhookSecret();
    const hook = await startReceiver(() => secret);
    try {
      const input = await cfrWithAudio(dir());
      const output = join(dir(), 'out.mp4');
      const result = await runCli(
        ['run', '-t', input, '-o', output, '--processors', 'passthrough', '--workers', '2'].concat([
          ...['--chunk-frames', '45', '--checkpoint-frames', '15'],
          '--state-dir',
          join(dir(), 'state'),
          '--webhook',
          hook.url,
        ]),
        dir(),
        { SPOTFUSE_WEBHOOK_SECRET: secret },
      );
      expect(result.stderr).not.toMatch(/error|not delivered/i);
      expect(result.code).toBe(0);
      expect(hook.accepted()).toHaveLength(1);
      const body = hook.accepted()[0].verified as EventBody;
      expect(body.type).toBe('job.completed');
      expect(body.data.report).toMatchObject({
        state: 'completed',
        frames: 90,
        tasks: 2,
        segments: 6,
        output,
      });
      expect(body.data.resultUrl).toMatch(/^file:\/\/.*out\.mp4$/);
    } finally {
      await hook.close();
    }
  });

  it('refuses a webhook that is not http(s) in one line, before any work', async () => {
    const result = await runCli(
      ['run', '-t', 'missing.mp4', '-o', 'out.mp4', '--webhook', 'ftp://example.com/x'],
      dir(),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toBe('spotfuse: error: a webhook URL is http:// or https://, not ftp:');
  });
});
