/**
 * Bull Board as an operator uses it: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) logs into the real ingress's `/admin/queues`, finds a dead letter the real worker
 * parked, and retries it from the UI. The retry replays the origin job, which then links the contact
 * on the Web1on1 sandbox. Screenshots land in `test-results/` for CI to keep.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AppProcess,
  type DmsSandbox,
  freePort,
  makeWebhookSecret,
  type PrivateRedis,
  REPO_ROOT,
  startDmsSandbox,
  startIngressProcess,
  startPrivateRedis,
  startWeb1on1Sandbox,
  startWorkerProcess,
  uniquePrefix,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
// Debian's package; .ci/run installs it. Browsers cannot be downloaded on the build machines, so
// without it the browser test is skipped (never faked) and says so.
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const RESULTS_DIR = join(REPO_ROOT, 'test-results');
const SCREENSHOT = join(RESULTS_DIR, 'bull-board-dead-letter-retry.png');
const SCREENSHOT_AFTER = join(RESULTS_DIR, 'bull-board-dead-letter-retried.png');

const ORG = 'org-board';
const API_KEY = 'board-api-key-0123456789abcdef';
const WEBHOOK_SECRET = `board-webhook-${randomBytes(8).toString('hex')}`;
const ADMIN = { username: 'ops', password: `board-${randomBytes(8).toString('hex')}` };
const QUEUES = ['link-contact', 'notify-dms', 'dead-letter'] as const;
const EMAIL = 'kim.de.vries@example.com';
const MASKED_EMAIL = 'k***@example.com';

interface JobStatus {
  jobId: string;
  state: string;
  outcome?: string;
  result?: { contactId: string; conversation: string | null };
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * Bull Board's job actions are icon buttons without an accessible name; their label is a tooltip
 * shown on hover. Returns the button in `scope` whose tooltip reads `label`.
 */
async function buttonWithTooltip(page: Page, scope: Locator, label: string): Promise<Locator> {
  const buttons = scope.getByRole('button');
  const count = await buttons.count();
  const seen: string[] = [];
  for (let i = 0; i < count; i++) {
    const button = buttons.nth(i);
    await button.hover();
    const tooltip = page.getByText(label, { exact: true });
    const shown = await tooltip
      .waitFor({ state: 'visible', timeout: 2_000 })
      .then(() => true)
      .catch(() => false);
    if (shown) return button;
    seen.push(`#${i}`);
    await page.mouse.move(0, 0);
  }
  throw new Error(`no button with the tooltip "${label}" among ${count} (${seen.join(', ')})`);
}

describe('Bull Board in a browser: dead letter retried from the UI', () => {
  let redis: PrivateRedis | undefined;
  let web1on1: Web1on1Sandbox | undefined;
  let dms: DmsSandbox | undefined;
  let ingress: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let connection: Redis | undefined;
  let deadLetterQueue: Queue | undefined;
  let browser: Browser | undefined;

  const sys = () => {
    if (!web1on1 || !ingress || !worker || !deadLetterQueue) {
      throw new Error('system did not start (see beforeAll)');
    }
    return { web1on1, ingress, worker, deadLetterQueue };
  };
  const logsOf = () => [ingress?.tail(), worker?.tail()].filter(Boolean).join('\n');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const prefix = uniquePrefix();
    const [ingressPort, workerPort] = [await freePort(), await freePort()];
    web1on1 = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `http://127.0.0.1:${ingressPort}/webhook`, secret: WEBHOOK_SECRET },
    });
    const dmsSecret = makeWebhookSecret();
    dms = await startDmsSandbox({ secret: dmsSecret });

    const shared = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' };
    [ingress, worker] = await Promise.all([
      startIngressProcess({
        ...shared,
        PORT: String(ingressPort),
        HOST: '127.0.0.1',
        DMS_API_KEYS: API_KEY,
        WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_PASSWORD: ADMIN.password,
      }),
      startWorkerProcess({
        ...shared,
        WORKER_PORT: String(workerPort),
        WEB1ON1_API_URL: web1on1.url,
        WEB1ON1_TOKEN: web1on1.issueToken(),
        WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
        WEB1ON1_BOT_EMAIL: web1on1.botEmail,
        WEB1ON1_APP_URL: 'https://app.board.test',
        DMS_CONTACT_URL_TEMPLATE: `${dms.baseUrl}/customer/{id}/`,
        DMS_LINK_ICON: 'https://dms.board.test/icon.png',
        DMS_NOTIFY_URL: dms.url,
        DMS_NOTIFY_SECRET: dmsSecret,
      }),
    ]);
    connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    deadLetterQueue = new Queue('dead-letter', { connection, prefix });
  });

  afterAll(async () => {
    await browser?.close().catch(() => {});
    // Children first: they must never outlive the test, whichever test failed.
    await Promise.all([ingress?.kill(), worker?.kill()]);
    await deadLetterQueue?.close().catch(() => {});
    connection?.disconnect();
    await Promise.all([web1on1?.close(), dms?.close()]);
    await redis?.stop();
  });

  async function api(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${sys().ingress.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${API_KEY}`, ...init.headers },
      signal: AbortSignal.timeout(5_000),
    });
  }

  async function jobStatus(jobId: string): Promise<JobStatus> {
    const res = await api(`/jobs/${encodeURIComponent(jobId)}`);
    expect(res.status).toBe(200);
    return (await res.json()) as JobStatus;
  }

  async function deadLetterIds(): Promise<string[]> {
    const res = await fetch(`${sys().ingress.url}/admin/dead-letters`, {
      headers: { authorization: basic(ADMIN.username, ADMIN.password) },
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as Array<{ id: string }>).map((l) => l.id);
  }

  it('answers 401 with a Basic challenge without (or with wrong) credentials', async () => {
    const { ingress } = sys();
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const anonymous = await fetch(`${ingress.url}${path}`, {
        signal: AbortSignal.timeout(5_000),
      });
      await anonymous.arrayBuffer();
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.headers.get('www-authenticate'), path).toMatch(/^Basic realm=/);

      const wrong = await fetch(`${ingress.url}${path}`, {
        headers: { authorization: basic(ADMIN.username, `${ADMIN.password}x`) },
        signal: AbortSignal.timeout(5_000),
      });
      await wrong.arrayBuffer();
      expect(wrong.status, path).toBe(401);
    }
  });

  // Skipped only when Debian's chromium is not installed (.ci/run installs it); never faked.
  it.skipIf(!HAVE_CHROMIUM)(
    'logs in, sees the three queues, opens the parked letter and retries it',
    async () => {
      const { web1on1, ingress, deadLetterQueue } = sys();

      // A real dead letter: Web1on1 answers the link PATCH with a (one-shot) 404, which is permanent.
      const contact = web1on1.addContact({
        organization: ORG,
        profile: { email: EMAIL, name: 'Kim de Vries' },
      });
      web1on1.failNext(1, { status: 404, method: 'PATCH' });
      const res = await api('/updatecontact', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'DMS-7007', organization: ORG, email: EMAIL }),
      });
      const { jobId } = (await res.json()) as { jobId: string };
      expect(res.status).toBe(202);
      const letterId = `link-contact-${jobId}`;
      // Parked: the dead-letter processor has run it once and failed it on purpose.
      await waitFor(async () => (await deadLetterQueue.getJobState(letterId)) === 'failed', {
        timeoutMs: 15_000,
        intervalMs: 100,
        message: `dead letter ${letterId} parked as failed`,
      }).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
      });
      expect(await jobStatus(jobId)).toEqual({ jobId, state: 'dead-lettered' });
      expect(await deadLetterIds()).toEqual([letterId]);
      expect(web1on1.getContact(contact.id)?.links).toEqual([]);

      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });

      // The browser without credentials is refused too: the board answers 401, and headless
      // Chromium, having no one to ask for a password, fails the navigation.
      const anonymous = await browser.newContext();
      const anonymousPage = await anonymous.newPage();
      const statuses: number[] = [];
      anonymousPage.on('response', (response) => statuses.push(response.status()));
      const refused = await anonymousPage.goto(`${ingress.url}/admin/queues`).then(
        (response) => `HTTP ${response?.status()}`,
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect(statuses).toEqual([401]);
      await anonymous.close();

      const context = await browser.newContext({
        httpCredentials: { username: ADMIN.username, password: ADMIN.password },
        viewport: { width: 1400, height: 900 },
      });
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      // Helmet's Content-Security-Policy covers the admin scope: a blocked script or style would
      // show up here (Chromium reports CSP violations on the console).
      const pageErrors: string[] = [];
      const cspViolations: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) {
          cspViolations.push(message.text());
        }
      });

      const home = await page.goto(`${ingress.url}/admin/queues`);
      expect(home?.status()).toBe(200);
      const sidebar = page.locator('aside');
      for (const name of QUEUES) {
        await sidebar.getByRole('link', { name, exact: true }).waitFor({ state: 'visible' });
      }

      // The dead-letter queue, its Failed tab, the letter.
      await sidebar.getByRole('link', { name: 'dead-letter', exact: true }).click();
      await page.getByRole('link', { name: /^failed\b/i }).click();
      await page.waitForURL(/\/queue\/dead-letter\?status=failed$/);
      await page.getByRole('link', { name: letterId, exact: true }).click();
      await page.waitForURL((url) => url.pathname.endsWith(`/queue/dead-letter/${letterId}`));

      await page.getByRole('tab', { name: 'Error', exact: true }).click();
      await page.getByRole('tab', { name: 'Error', selected: true }).waitFor();
      const reason = page.getByText(
        new RegExp(`PermanentError: Web1on1 PATCH /v2/contacts/${contact.id} answered 404`),
      );
      await reason.first().waitFor({ state: 'visible' });

      await page.getByRole('tab', { name: 'Data', exact: true }).click();
      await page.getByRole('tab', { name: 'Data', selected: true }).waitFor();
      await page.getByText(MASKED_EMAIL).first().waitFor({ state: 'visible' });
      await page.getByText('DMS-7007').first().waitFor({ state: 'visible' });
      expect(await page.content()).not.toContain(EMAIL);

      mkdirSync(RESULTS_DIR, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });

      // Retry, confirmed in Bull Board's dialog.
      const jobHeader = page
        .getByText(letterId, { exact: true })
        .locator('xpath=ancestor::div[.//button][1]');
      const retry = await buttonWithTooltip(page, jobHeader, 'Retry');
      await retry.click();
      const dialog = page.getByRole('alertdialog');
      await dialog
        .getByText('Are you sure that you want to retry this job?')
        .waitFor({ state: 'visible' });
      await dialog.getByRole('button', { name: 'Confirm', exact: true }).click();
      await dialog.waitFor({ state: 'hidden' });

      // The letter replayed its origin job, which linked the contact; the letter is gone.
      const settled = await waitFor(
        async () => {
          const status = await jobStatus(jobId);
          return status.state === 'completed' ? status : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100, message: `origin job ${jobId} completed` },
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
      });
      expect(settled).toEqual({
        jobId,
        state: 'completed',
        outcome: 'linked',
        result: { contactId: contact.id, conversation: contact.conversation },
      });
      await waitFor(async () => (await deadLetterQueue.getJob(letterId)) === undefined, {
        timeoutMs: 5_000,
        message: `dead letter ${letterId} removed`,
      });
      expect(await deadLetterIds()).toEqual([]);
      expect(web1on1.getContact(contact.id)?.links).toEqual([
        expect.objectContaining({ label: 'View in DMS' }),
      ]);

      // And the board agrees: no failed letter left; the origin job is among link-contact's completed.
      await page.goto(`${ingress.url}/admin/queues/queue/dead-letter?status=failed`);
      await sidebar.getByRole('link', { name: 'dead-letter', exact: true }).waitFor();
      await waitFor(async () => (await page.getByRole('link', { name: letterId }).count()) === 0, {
        timeoutMs: 5_000,
        message: 'letter gone from the Failed tab',
      });
      await sidebar.getByRole('link', { name: 'link-contact', exact: true }).click();
      await page.getByRole('link', { name: /^completed\b/i }).click();
      await page.getByRole('link', { name: jobId, exact: true }).waitFor({ state: 'visible' });
      await page.screenshot({ path: SCREENSHOT_AFTER, fullPage: true, animations: 'disabled' });

      expect(pageErrors).toEqual([]);
      expect(cspViolations).toEqual([]);
      await context.close();
    },
  );
});
