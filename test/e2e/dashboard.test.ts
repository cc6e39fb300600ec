import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEmbedded } from '../../src/app/embeddedRun.js';
import { ensureModels } from '../../src/models/download.js';
import { resolveModelSettings } from '../../src/models/settings.js';
import type { FleetView, JobListResponse } from '../../src/protocol/jobViews.js';
import { type ClaimResponse, LEASE_PROTOCOL } from '../../src/protocol/wire.js';
import { requiredModels } from '../../src/vision/faceJob.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { ACCESS_KEY, type S3Harness, startS3 } from '../blob/s3Harness.js';
import { squareFace, TWO_SQUARES, twoFaceSquares } from '../fixtures/faceSquares.js';
import { writeModelSet } from '../fixtures/models.js';
import { cfrWithAudio, probeFramesPts } from '../fixtures/videos.js';
import { type StartedCli, startCli } from '../helpers/cli.js';
import { useTempDir } from '../helpers/tempDir.js';

/** Debian's chromium (`.ci/install-chromium`), driven by playwright-core: no browser download. */
const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: run .ci/install-chromium`;
if (skip) console.log(`dashboard browser tests skipped: ${skip}`);

const ADMIN = 'dashboard-test-admin-token-0123456789';

/** `SPOTFUSE_DASHBOARD_SCREENSHOTS=docs/img`: the run also saves the README's screenshots there. */
const SCREENSHOTS = process.env.SPOTFUSE_DASHBOARD_SCREENSHOTS;
async function screenshot(page: Page, name: string): Promise<void> {
  if (SCREENSHOTS)
    await page.screenshot({ path: join(SCREENSHOTS, `dashboard-${name}.png`), fullPage: true });
}

/** Headless chromium on a fresh profile, with nothing running in the background. */
function launchChromium(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1200, height: 900 },
  });
}
/** Waits are for conditions, never for time; this bounds a wait only so that a broken page fails. */
const WAIT = { timeout: 60_000 };

describe.skipIf(skip !== undefined)(
  `dashboard in Chromium against spotfuse server${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    const dir = useTempDir();
    let s3: S3Harness;
    let server: StartedCli;
    let address = '';
    let tenant = '';
    let worker = '';
    let browser: BrowserContext;
    let page: Page;
    let jobId = '';

    async function call<T>(method: string, path: string, token: string, body?: unknown): Promise<T> {
      const res = await fetch(`${address}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    }

    beforeAll(async () => {
      s3 = await startS3(join(dir(), 's3'), 'spotfuse-web', { cors: true });
      // The server previews frames with the stand-in models of a face swap, already in its model directory.
      const modelFlags = [
        '--model-dir',
        join(dir(), 'models'),
        '--model-manifest',
        (await writeModelSet(dir())).manifest,
      ];
      const models = await resolveModelSettings({ modelDir: modelFlags[1], modelManifest: modelFlags[3] });
      await ensureModels(requiredModels(['face_swapper'], DEFAULT_FACE_OPTIONS, models.catalog), models);
      server = startCli(
        [
          'server',
          ...['--db', join(dir(), 'state.db'), '--blob', `s3://${s3.bucket}/web`],
          ...['--s3-endpoint', s3.endpoint, '--s3-region', 'us-east-1', '--s3-force-path-style'],
          ...['--listen', '127.0.0.1:0', '--lease-ttl', '600', '--parallelism', '3'],
          // Uploads over 100 kB go in parts: the page's multipart path (part URLs, ETags over CORS) runs.
          ...['--multipart-threshold', '100000'],
          ...modelFlags,
        ],
        dir(),
        { SPOTFUSE_ADMIN_TOKEN: ADMIN, AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: ACCESS_KEY },
      );
      const deadline = Date.now() + 60_000;
      for (;;) {
        const m = /"msg":"listening","address":"([^"]+)"/.exec(server.stderr());
        if (m) {
          address = m[1];
          break;
        }
        if (server.child.exitCode !== null) throw new Error(`server exited: ${server.stderr()}`);
        if (Date.now() > deadline) throw new Error(`server did not start: ${server.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      tenant = (
        await call<{ token: string }>('POST', '/v1/tokens', ADMIN, { role: 'tenant', tenant: 'acme' })
      ).token;
      worker = (await call<{ token: string }>('POST', '/v1/tokens', ADMIN, { role: 'worker' })).token;
      browser = await launchChromium(join(dir(), 'chromium-profile'));
      page = browser.pages()[0] ?? (await browser.newPage());
      // The page asks before it cancels a job: the test says yes.
      page.on('dialog', (dialog) => void dialog.accept());
    });

    afterAll(async () => {
      await browser?.close();
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        await server.result;
      }
      await s3?.close();
    });

    const heading = () => page.locator('main h1').textContent();

    it('says plainly that a wrong token was not accepted', async () => {
      await page.goto(`${address}/`);
      await page.fill('#token', `sf_t_${'x'.repeat(43)}`);
      await page.click('button[type=submit]');
      const alert = page.locator('[role=alert]');
      await alert.waitFor(WAIT);
      expect(await alert.textContent()).toBe(
        'The server did not accept this token: it is wrong or has been revoked. Sign in again.',
      );
    });

    it('signs in with a tenant token using the keyboard only', async () => {
      await page.goto(`${address}/`);
      await page.locator('#token').focus();
      await page.keyboard.press('Control+A');
      await page.keyboard.type(tenant);
      await page.keyboard.press('Enter');
      await page.getByText('No jobs yet.').waitFor(WAIT);
      expect(await heading()).toBe('Jobs');
      expect(await page.evaluate(() => sessionStorage.getItem('spotfuse.token'))).toBe(tenant);
      expect(await page.evaluate(() => document.cookie)).toBe('');
    });

    it('previews a frame: the faces found, the one picked, and the swapped frame beside the original', async () => {
      await page.click('text=Submit');
      await page.locator('#target').setInputFiles(await twoFaceSquares(dir()));
      await page.locator('#sources').setInputFiles(await squareFace(dir()));
      await page.selectOption('#selector', 'one');
      // By keyboard: the frame number, then Enter, which previews (and does not send the job).
      await page.locator('#preview-frame').focus();
      await page.keyboard.press('Control+A');
      await page.keyboard.type('15');
      await page.keyboard.press('Enter');
      const result = page.locator('.preview-result[data-frame="15"]');
      await result.waitFor(WAIT);
      expect(await result.locator('[role=status]').textContent()).toBe(
        'Frame 15: 2 faces found, 1 picked by the selector (one, large-small).',
      );
      expect(page.url()).toMatch(/#\/submit$/);
      // Both pictures decoded at the frame's size; a box on each face, the picked one solid.
      for (const which of ['original', 'processed'])
        expect(
          await result
            .locator(`img.${which}`)
            .evaluate((img: HTMLImageElement) => [img.naturalWidth, img.naturalHeight]),
        ).toEqual([TWO_SQUARES.width, TWO_SQUARES.height]);
      expect(await result.locator('.face-boxes rect').count()).toBe(2);
      expect(await result.locator('.face-boxes .picked rect').count()).toBe(1);
      expect(await result.locator('.preview-faces li[data-picked="true"]').count()).toBe(1);
      // Once previewed, the video's frame count bounds the slider.
      expect(await page.locator('input[type=range][aria-label=Frame]').getAttribute('max')).toBe(
        String(TWO_SQUARES.frames - 1),
      );
      // The picked face was swapped: at its centre the two pictures differ; the box sits on a face square.
      const picked = await result
        .locator('.face-boxes .picked rect')
        .evaluate((r) => Number(r.getAttribute('x')));
      const centre = await page.evaluate(async (x) => {
        const read = (img: HTMLImageElement) => {
          const canvas = document.createElement('canvas');
          canvas.width = img.naturalWidth;
          canvas.height = img.naturalHeight;
          const context = canvas.getContext('2d')!;
          context.drawImage(img, 0, 0);
          return [...context.getImageData(Math.round(x) + 48, 0, 1, img.naturalHeight).data];
        };
        return {
          original: read(document.querySelector('img.original')!),
          processed: read(document.querySelector('img.processed')!),
        };
      }, picked);
      expect(centre.processed).not.toEqual(centre.original);
      expect([TWO_SQUARES.left.x, TWO_SQUARES.right.x]).toContain(Math.round(picked));
      await screenshot(page, 'preview');
      // At phone width the two frames stack, and nothing is wider than the screen.
      await page.setViewportSize({ width: 375, height: 740 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
      await page.setViewportSize({ width: 1200, height: 900 });
      // Leaving the page clears the form for the tests that follow.
      await page.click('nav >> text=Jobs');
      await page.getByText('No jobs yet.').waitFor(WAIT);
    });

    it("says in plain words why the server refused a submission (a model it doesn't know)", async () => {
      await page.click('text=Submit');
      await page.locator('#target').setInputFiles(await cfrWithAudio(dir()));
      await page.uncheck('input[value=face_swapper]');
      await page.check('input[value=face_enhancer]');
      await page.fill('[id="enhancer.model"]', 'no_such_model');
      await page.click('button[type=submit]');
      const alert = page.locator('[role=alert]');
      await alert.waitFor(WAIT);
      expect(await alert.textContent()).toMatch(/no_such_model/);
      expect(page.url()).toMatch(/#\/submit$/);
      await page.uncheck('input[value=face_enhancer]');
    });

    it('submits a generated video: the browser uploads it in parts straight to the bucket', async () => {
      await page.locator('#target').setInputFiles(await cfrWithAudio(dir()));
      await page.check('input[value=passthrough]');
      await screenshot(page, 'submit');
      await page.click('button[type=submit]');
      await page.waitForURL(/#\/jobs\/.+/, WAIT);
      jobId = decodeURIComponent(/#\/jobs\/(.+)$/.exec(page.url())![1]);
      await page.getByText('0 / 90 frames (0 %)').waitFor(WAIT);
      expect(await heading()).toBe(`Job ${jobId}`);
      // The bytes went from the browser to the bucket (a CORS preflight, then the part), not through the API.
      const fromBrowser = s3.requests.filter((r) => r.headers.origin === address);
      expect(fromBrowser.map((r) => r.method)).toEqual(expect.arrayContaining(['OPTIONS', 'PUT']));
      expect(fromBrowser.some((r) => r.method === 'PUT' && r.query.has('uploadId') && r.status === 200)).toBe(
        true,
      );
    });

    it("shows the job's progress, fps and ETA live as a worker reports them", async () => {
      const machine = { cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' };
      const claim = await call<ClaimResponse>('POST', '/v1/claim', worker, {
        protocol: LEASE_PROTOCOL,
        workerId: 'w1',
        ...machine,
      });
      expect(claim.task.jobId).toBe(jobId);
      await call('POST', `/v1/tasks/${claim.task.id}/heartbeat`, worker, {
        epoch: claim.task.epoch,
        framesDone: 20,
        fps: 12.5,
      });
      // No reload: the open job page polls the API and the bar moves.
      await page.locator('[role=progressbar][aria-valuenow="20"]').waitFor(WAIT);
      await page.click('text=← All jobs');
      const row = page.locator(`li.job[data-job="${jobId}"]`);
      await row.locator('text=12.5').waitFor(WAIT);
      expect(await row.locator('.frames').textContent()).toBe('20 / 90 frames (22 %)');
      // 70 frames left at 12.5 frames/s.
      expect(await row.getByText('6 s', { exact: true }).count()).toBe(1);
      await screenshot(page, 'jobs');

      // The worker is preempted; another takes the task over.
      await call('POST', `/v1/tasks/${claim.task.id}/release`, worker, {
        epoch: claim.task.epoch,
        reason: 'preempted',
      });
      const again = await call<ClaimResponse>('POST', '/v1/claim', worker, {
        protocol: LEASE_PROTOCOL,
        workerId: 'w2',
        ...machine,
      });
      expect(again.task.id).toBe(claim.task.id);
      await row.locator('.interruptions', { hasText: '1' }).waitFor(WAIT);
    });

    it('opens the job by keyboard and shows the preemption on its timeline', async () => {
      await page.locator('main h1').focus();
      const link = page.locator(`a[href="#/jobs/${encodeURIComponent(jobId)}"]`);
      for (let i = 0; i < 10 && !(await link.evaluate((a) => a === document.activeElement)); i++)
        await page.keyboard.press('Tab');
      expect(await link.evaluate((a) => a === document.activeElement)).toBe(true);
      await page.keyboard.press('Enter');
      await page.locator('.timeline .attempt[data-outcome="running"]').waitFor(WAIT);
      expect(await heading()).toBe(`Job ${jobId}`);
      expect(await page.locator('.timeline .attempt[data-outcome="preempted"]').count()).toBe(1);
      const preempted = page.locator('table.attempts tr[data-outcome="preempted"]');
      expect((await preempted.locator('td').allTextContents()).map((t) => t.trim())).toEqual(
        expect.arrayContaining(['w1', 'g5.xlarge', 'us-east-1a', 'preempted']),
      );
      expect(await page.locator('[data-figure="interruptions"]').textContent()).toBe('1');
      await screenshot(page, 'job');
    });

    it('fits a phone screen: nothing wider than the viewport but the tables, which scroll', async () => {
      await page.setViewportSize({ width: 375, height: 740 });
      const overflow = () => page.evaluate(() => document.documentElement.scrollWidth);
      expect(await overflow()).toBeLessThanOrEqual(375);
      await page.click('text=← All jobs');
      await page.locator(`li.job[data-job="${jobId}"]`).waitFor(WAIT);
      expect(await overflow()).toBeLessThanOrEqual(375);
      // Dark mode follows the system's setting.
      await page.emulateMedia({ colorScheme: 'dark' });
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe(
        'rgb(17, 20, 24)',
      );
      await screenshot(page, 'phone');
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 1200, height: 900 });
    });

    it("shows the admin the busy workers and the savings charts; tenants don't see those pages", async () => {
      expect(await page.locator('nav a', { hasText: 'Workers' }).count()).toBe(0);
      // A tab of its own: the session (sessionStorage) belongs to one tab.
      const admin = await browser.newPage();
      try {
        await admin.goto(`${address}/`);
        await admin.fill('#token', ADMIN);
        await admin.click('button[type=submit]');
        await admin.locator(`li.job[data-job="${jobId}"]`).waitFor(WAIT);
        await admin.click('nav >> text=Workers');
        const w2 = admin.locator('tr[data-worker="w2"]');
        await w2.waitFor(WAIT);
        expect((await w2.locator('td').allTextContents()).slice(0, 4)).toEqual([
          'w2',
          'spot',
          'g5.xlarge',
          'us-east-1a',
        ]);
        const { queued } = await call<FleetView>('GET', '/v1/workers', ADMIN);
        expect(await admin.locator('[data-figure="queued"]').textContent()).toBe(String(queued));
        await admin.click('nav >> text=Savings');
        const today = admin.locator(`tr[data-day="${new Date().toISOString().slice(0, 10)}"]`);
        await today.waitFor(WAIT);
        expect(await today.locator('td').last().textContent()).toBe('1');
        // The charts draw once their data has come, which may be after the table's.
        await admin.locator('.chart canvas').nth(2).waitFor(WAIT);
        expect(await admin.locator('.chart canvas').count()).toBe(3);
        await screenshot(admin, 'savings');
      } finally {
        await admin.close();
      }
    });

    it('cancels the job from the list', async () => {
      const row = page.locator(`li.job[data-job="${jobId}"]`);
      await row.locator('button', { hasText: 'Cancel' }).click();
      await page.locator(`li.job[data-job="${jobId}"][data-state="canceled"]`).waitFor(WAIT);
      const { jobs } = await call<JobListResponse>('GET', '/v1/jobs', tenant);
      expect(jobs.find((j) => j.id === jobId)?.state).toBe('canceled');
      expect(await row.locator('button', { hasText: 'Cancel' }).count()).toBe(0);
    });

    it('watches a job finish on a real worker and downloads its output, every frame there', async () => {
      await page.click('text=Submit');
      await page.locator('#target').setInputFiles(await cfrWithAudio(dir()));
      await page.uncheck('input[value=face_swapper]');
      await page.check('input[value=passthrough]');
      await page.click('button[type=submit]');
      await page.waitForURL(/#\/jobs\/.+/, WAIT);
      const id = decodeURIComponent(/#\/jobs\/(.+)$/.exec(page.url())![1]);
      const work = startCli(['worker', '--worker-id', 'real-1', '--work-dir', join(dir(), 'work')], dir(), {
        SPOTFUSE_SERVER: address,
        SPOTFUSE_TOKEN: worker,
      });
      try {
        await page.locator('.state-completed').waitFor({ timeout: 120_000 });
        expect(
          await page.locator('table.attempts tr[data-outcome="completed"] td').nth(3).textContent(),
        ).toBe('real-1');
        // Download opens the output's presigned URL in the bucket in a tab of its own.
        const [request] = await Promise.all([
          browser.waitForEvent('request', { predicate: (r) => r.url().startsWith(s3.endpoint), ...WAIT }),
          page.click('button:has-text("Download")'),
        ]);
        expect(page.url()).toContain(`#/jobs/${encodeURIComponent(id)}`);
        const output = join(dir(), `${id}.mp4`);
        writeFileSync(output, Buffer.from(await (await fetch(request.url())).arrayBuffer()));
        expect(await probeFramesPts(output)).toHaveLength(90);
      } finally {
        work.child.kill('SIGTERM');
        await work.result;
      }
      for (const other of browser.pages()) if (other !== page) await other.close();
    });

    it('says in plain words when the token is revoked while the page is open', async () => {
      const { tokens } = await call<{ tokens: { id: string; tenant: string | null }[] }>(
        'GET',
        '/v1/tokens',
        ADMIN,
      );
      const acme = tokens.find((t) => t.tenant === 'acme')!;
      await call('DELETE', `/v1/tokens/${acme.id}`, ADMIN);
      const alert = page.locator('[role=alert]', { hasText: 'did not accept this token' });
      await alert.waitFor(WAIT);
      expect(await alert.textContent()).toBe(
        'The server did not accept this token: it is wrong or has been revoked. Sign in again.',
      );
    });
  },
);

describe.skipIf(skip !== undefined)(`spotfuse run --ui${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dir = useTempDir();

  it('serves the dashboard of a local run, signed in by the address it prints', async () => {
    const video = await cfrWithAudio(dir());
    const stop = new AbortController();
    let dashboard: (url: string) => void = () => {};
    const printed = new Promise<string>((resolve) => {
      dashboard = resolve;
    });
    // Workers that never claim: the job stays where it is while the page is looked at.
    const run = runEmbedded({
      request: {
        input: video,
        sources: [],
        output: join(dir(), 'out.mp4'),
        processors: 'passthrough',
        face: DEFAULT_FACE_OPTIONS,
        encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
        checkpointFrames: 30,
      },
      stateDir: join(dir(), 'state'),
      workers: 1,
      leaseTtlMs: 60_000,
      maxAttempts: 3,
      workerCommand: [process.execPath, '-e', 'setInterval(() => {}, 1 << 30)', '--'],
      signal: stop.signal,
      onDashboard: (url) => dashboard(url),
    });
    const url = await printed;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]{32}$/);
    const browser = await launchChromium(join(dir(), 'profile'));
    try {
      const page = browser.pages()[0] ?? (await browser.newPage());
      await page.goto(url);
      await page.locator('li.job[data-state="running"]').waitFor(WAIT);
      expect(await page.locator('.who').textContent()).toBe('admin');
      // The token left the address at once: only this tab's session storage has it.
      expect(page.url()).not.toContain('token');
      expect(await page.locator('li.job .frames').textContent()).toBe('0 / 90 frames (0 %)');
    } finally {
      await browser.close();
      stop.abort();
      await run;
    }
  });
});
