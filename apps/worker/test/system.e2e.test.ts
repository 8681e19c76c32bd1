/**
 * The whole system as an operator runs it: the real `start:ingress` and `start:worker` processes,
 * configured by environment only, against a private redis-server and the Web1on1 and DMS sandboxes
 * running in this test process. The Web1on1 sandbox posts its own signed webhooks to the ingress, so
 * the echo of every link this system adds comes back exactly as it would in production.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AppProcess,
  type DmsDelivery,
  type DmsSandbox,
  freePort,
  makeWebhookSecret,
  type PrivateRedis,
  type SandboxContact,
  signHubSignature,
  spawnApp,
  startDmsSandbox,
  startIngressProcess,
  startPrivateRedis,
  startWeb1on1Sandbox,
  startWorkerProcess,
  UNFINISHED_JOB_STATES,
  uniquePrefix,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ORG = 'org-e2e';
const API_KEY = 'e2e-api-key-0123456789abcdef';
const WEBHOOK_SECRET = `e2e-webhook-${randomBytes(8).toString('hex')}`;
const APP_URL = 'https://app.e2e.test';
const LINK_ICON = 'https://dms.e2e.test/icon.png';

interface JobStatus {
  jobId: string;
  state: string;
  outcome?: string;
  result?: { contactId: string; conversation: string | null };
}

interface Notification {
  type: string;
  timestamp: string;
  organization: string;
  data: {
    contactId: string;
    conversation: string | null;
    conversationUrl: string | null;
    profile: { email?: string | null; telephone?: string | null; name?: string | null };
    dmsContactId?: string;
  };
}

const objectId = () => randomBytes(12).toString('hex');

describe('system: real ingress and worker processes', () => {
  let redis: PrivateRedis | undefined;
  let web1on1: Web1on1Sandbox | undefined;
  let dms: DmsSandbox | undefined;
  let ingress: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let queueConnection: Redis | undefined;
  let notifyQueue: Queue | undefined;
  let dmsUrlTemplate = '';

  const sys = () => {
    if (!web1on1 || !dms || !ingress || !worker || !notifyQueue) {
      throw new Error('system did not start (see beforeAll)');
    }
    return { web1on1, dms, ingress, worker, notifyQueue };
  };
  const logsOf = () => [ingress?.tail(), worker?.tail()].filter(Boolean).join('\n');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    const prefix = uniquePrefix();
    const [ingressPort, workerPort] = [await freePort(), await freePort()];
    const ingressUrl = `http://127.0.0.1:${ingressPort}`;
    web1on1 = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `${ingressUrl}/webhook`, secret: WEBHOOK_SECRET },
    });
    const dmsSecret = makeWebhookSecret();
    dms = await startDmsSandbox({ secret: dmsSecret });
    dmsUrlTemplate = `${dms.baseUrl}/customer/{id}/`;

    const shared = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      DEFAULT_PHONE_COUNTRY: 'NL',
    };
    [ingress, worker] = await Promise.all([
      startIngressProcess({
        ...shared,
        PORT: String(ingressPort),
        HOST: '127.0.0.1',
        DMS_API_KEYS: `some-other-key-0000000000,${API_KEY}`,
        WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
      }),
      startWorkerProcess({
        ...shared,
        WORKER_PORT: String(workerPort),
        WEB1ON1_API_URL: web1on1.url,
        WEB1ON1_TOKEN: web1on1.issueToken(),
        WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
        WEB1ON1_BOT_EMAIL: web1on1.botEmail,
        WEB1ON1_APP_URL: APP_URL,
        DMS_CONTACT_URL_TEMPLATE: dmsUrlTemplate,
        DMS_LINK_ICON: LINK_ICON,
        DMS_NOTIFY_URL: dms.url,
        DMS_NOTIFY_SECRET: dmsSecret,
        // One lookup, then `not_found` and waiting: no backoff between lookups to sit through.
        NOT_FOUND_ATTEMPTS: '1',
      }),
    ]);
    queueConnection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    notifyQueue = new Queue('notify-dms', { connection: queueConnection, prefix });
  });

  afterAll(async () => {
    // Children first: they must never outlive the test, whichever test failed.
    await Promise.all([ingress?.kill(), worker?.kill()]);
    await notifyQueue?.close().catch(() => {});
    queueConnection?.disconnect();
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

  async function postContact(body: Record<string, unknown>): Promise<string> {
    const res = await api('/updatecontact', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { status: string; jobId: string };
    expect(res.status, JSON.stringify(answer)).toBe(202);
    expect(answer).toEqual({ status: 'queued', jobId: expect.any(String) });
    return answer.jobId;
  }

  async function settledJob(jobId: string, timeoutMs = 10_000): Promise<JobStatus> {
    return waitFor(
      async () => {
        const res = await api(`/jobs/${encodeURIComponent(jobId)}`);
        expect(res.status).toBe(200);
        const job = (await res.json()) as JobStatus;
        return ['completed', 'failed', 'dead-lettered'].includes(job.state) ? job : undefined;
      },
      { timeoutMs, intervalMs: 100, message: `job ${jobId} settled` },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
    });
  }

  async function postWebhook(raw: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${sys().ingress.url}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature': signHubSignature(raw, WEBHOOK_SECRET),
      },
      body: raw,
      signal: AbortSignal.timeout(5_000),
    });
    return { status: res.status, body: await res.json() };
  }

  /** Until no notify-dms job is waiting, running or scheduled for a retry. */
  async function notifyQueueDrained(): Promise<void> {
    await waitFor(
      async () => {
        const counts = await sys().notifyQueue.getJobCounts(...UNFINISHED_JOB_STATES);
        return Object.values(counts).every((n) => n === 0);
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'notify-dms queue drained' },
    );
  }

  const deliveriesFor = (contactId: string): DmsDelivery[] =>
    sys().dms.deliveries.filter(
      (d) => (d.body as Notification | undefined)?.data?.contactId === contactId,
    );

  function expectVerified(delivery: DmsDelivery): Notification {
    expect(delivery.verified, 'Standard Webhooks signature').toBe(true);
    expect(delivery.status).toBeGreaterThanOrEqual(200);
    expect(delivery.status).toBeLessThan(300);
    expect(delivery.contentType).toMatch(/^application\/json\b/);
    expect(delivery.webhookId).toBeTruthy();
    return delivery.body as Notification;
  }

  let jane: SandboxContact;

  it('DMS → Web1on1: links the contact found by email and tells the DMS', async () => {
    const { web1on1, dms } = sys();
    jane = web1on1.addContact({
      organization: ORG,
      profile: { email: 'jane.doe@example.com', name: 'Jane Doe' },
    });
    web1on1.addContact({ organization: 'another-org', profile: { email: 'jane.doe@example.com' } });

    const jobId = await postContact({
      id: 'DMS-1001',
      organization: ORG,
      email: '  Jane.Doe@Example.com ',
    });
    const job = await settledJob(jobId);
    expect(job).toEqual({
      jobId,
      state: 'completed',
      outcome: 'linked',
      result: { contactId: jane.id, conversation: jane.conversation },
    });

    expect(web1on1.getContact(jane.id)?.links).toEqual([
      { label: 'View in DMS', url: `${dms.baseUrl}/customer/DMS-1001/`, icon: LINK_ICON },
    ]);

    const linked = await waitFor(
      () => deliveriesFor(jane.id).find((d) => (d.body as Notification).type === 'contact.linked'),
      { timeoutMs: 10_000, message: 'contact.linked at the DMS' },
    );
    const body = expectVerified(linked);
    expect(body).toMatchObject({
      type: 'contact.linked',
      organization: ORG,
      data: {
        contactId: jane.id,
        conversation: jane.conversation,
        conversationUrl: `${APP_URL}/conversations/${jane.conversation}`,
        dmsContactId: 'DMS-1001',
        profile: { email: 'jane.doe@example.com', name: 'Jane Doe' },
      },
    });
    expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
  });

  it("does not echo Web1on1's own contact.update for the link back to the DMS", async () => {
    const { notifyQueue } = sys();
    // The sandbox posted a signed contact.update to the ingress after the PATCH; the ingress
    // accepted it when a notify-dms job for it exists.
    const echo = await waitFor(
      async () => {
        const jobs = await notifyQueue.getJobs([
          'completed',
          'failed',
          'active',
          'waiting',
          'delayed',
          'prioritized',
        ]);
        return jobs.find((j) => j.name === 'contact.updated' && j.data?.contact?.id === jane.id);
      },
      { timeoutMs: 5_000, message: "the sandbox's contact.update echo enqueued by the ingress" },
    );
    expect(echo.data.contact.profile).toMatchObject({ email: 'jane.doe@example.com' });

    await notifyQueueDrained();
    await sleep(300);
    expect(await notifyQueue.getJobState(String(echo.id))).toBe('completed');
    expect(deliveriesFor(jane.id).map((d) => (d.body as Notification).type)).toEqual([
      'contact.linked',
    ]);
  });

  it('links a contact stored in E.164 from a national DMS phone number', async () => {
    const { web1on1, dms } = sys();
    const piet = web1on1.addContact({
      organization: ORG,
      profile: { telephone: '+31612345678', name: 'Piet Jansen' },
    });
    const jobId = await postContact({ id: 4711, organization: ORG, phone: '06 12345678' });
    const job = await settledJob(jobId);
    expect(job).toMatchObject({
      state: 'completed',
      outcome: 'linked',
      result: { contactId: piet.id },
    });
    expect(web1on1.getContact(piet.id)?.links).toEqual([
      { label: 'View in DMS', url: `${dms.baseUrl}/customer/4711/`, icon: LINK_ICON },
    ]);
  });

  it('Web1on1 → DMS: forwards a changed contact.update once, keyed by the event id', async () => {
    const { dms } = sys();
    const eventId = objectId();
    const raw = JSON.stringify({
      id: eventId,
      event: 'contact.update',
      timestamp: Date.now(),
      organization: ORG,
      data: {
        contact: {
          id: jane.id,
          organization: ORG,
          conversation: jane.conversation,
          profile: { email: 'jane.doe@example.com', name: 'Jane Smit', telephone: '+31201234567' },
          links: [],
        },
      },
    });
    expect(await postWebhook(raw)).toEqual({ status: 200, body: { status: 'queued' } });

    const delivery = await waitFor(() => dms.deliveries.find((d) => d.webhookId === eventId), {
      timeoutMs: 10_000,
      message: `DMS delivery with webhook-id ${eventId}`,
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
    });
    expect(expectVerified(delivery)).toMatchObject({
      type: 'contact.updated',
      organization: ORG,
      data: {
        contactId: jane.id,
        conversation: jane.conversation,
        conversationUrl: `${APP_URL}/conversations/${jane.conversation}`,
        profile: { email: 'jane.doe@example.com', name: 'Jane Smit', telephone: '+31201234567' },
      },
    });

    // Web1on1 redelivers the same event: recognised, not enqueued, not delivered again.
    expect(await postWebhook(raw)).toEqual({ status: 200, body: { status: 'duplicate' } });
    await notifyQueueDrained();
    await sleep(500);
    expect(dms.deliveries.filter((d) => d.webhookId === eventId)).toHaveLength(1);
  });

  it('retries through Web1on1 5xx answers and still links', async () => {
    const { web1on1 } = sys();
    const sam = web1on1.addContact({
      organization: ORG,
      profile: { email: 'sam@example.com', name: 'Sam Smit' },
    });
    const before = web1on1.requests.length;
    web1on1.failNext(2, { status: 503 });

    const jobId = await postContact({
      id: 'DMS-2002',
      organization: ORG,
      email: 'sam@example.com',
    });
    const job = await settledJob(jobId, 20_000);
    expect(job).toMatchObject({
      state: 'completed',
      outcome: 'linked',
      result: { contactId: sam.id },
    });
    expect(web1on1.requests.slice(before).filter((r) => r.status === 503)).toHaveLength(2);
    expect(web1on1.getContact(sam.id)?.links).toHaveLength(1);
  });

  it('a DMS contact nobody matched is linked when its Web1on1 contact is created; a repeat is answered from the link memory', async () => {
    const { web1on1, dms } = sys();
    const dmsId = 'DMS-WAIT-1';
    const start = web1on1.requests.length;
    const event = { id: dmsId, organization: ORG, email: '  Late.Visitor@Example.com ' };

    // 1. Nobody to link yet: one search, then `not_found`.
    const first = await postContact(event);
    expect(await settledJob(first)).toEqual({
      jobId: first,
      state: 'completed',
      outcome: 'not_found',
    });
    const searches = web1on1.requests.slice(start).map((r) => `${r.method} ${r.path}`);
    expect(searches).toEqual(['GET /v2/contacts']);
    expect(web1on1.requests[start]?.query).toMatchObject({
      organization: ORG,
      'profile.email': 'late.visitor@example.com',
    });

    // 2. The visitor shows up in Web1on1: created over HTTP, so the sandbox sends the ingress its
    //    signed contact.create webhook, as Web1on1 does.
    const created = await fetch(`${web1on1.url}/_sandbox/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        organization: ORG,
        profile: { email: 'late.visitor@example.com', name: 'Late Visitor' },
      }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as SandboxContact;
    const linkUrl = `${dms.baseUrl}/customer/${dmsId}/`;

    // 3. Within a few seconds: the link on the contact, and contact.linked at the DMS.
    await waitFor(() => (web1on1.getContact(contact.id)?.links.length ?? 0) > 0, {
      timeoutMs: 5_000,
      message: 'the DMS link on the new Web1on1 contact',
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
    });
    expect(web1on1.getContact(contact.id)?.links).toEqual([
      { label: 'View in DMS', url: linkUrl, icon: LINK_ICON },
    ]);
    const linked = await waitFor(
      () =>
        deliveriesFor(contact.id).find((d) => (d.body as Notification).type === 'contact.linked'),
      { timeoutMs: 5_000, message: 'contact.linked at the DMS' },
    );
    expect(linked.verified, 'Standard Webhooks signature').toBe(true);
    expect(linked.status).toBe(200);
    expect(linked.body).toMatchObject({
      type: 'contact.linked',
      organization: ORG,
      data: { contactId: contact.id, conversation: contact.conversation, dmsContactId: dmsId },
    });
    // The webhook match: one search by what Web1on1 holds, then the PATCH; nothing else.
    expect(web1on1.requests.slice(start + 1).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v2/contacts',
      `PATCH /v2/contacts/${contact.id}`,
    ]);

    // 4. The same DMS event again: answered from the link memory, no Web1on1 request.
    const requestsBefore = web1on1.requests.length;
    const second = await postContact(event);
    expect(await settledJob(second)).toEqual({
      jobId: second,
      state: 'completed',
      outcome: 'already_linked',
      result: { contactId: contact.id, conversation: contact.conversation },
    });
    // Long enough for the PATCH's echo webhook to have been handled too.
    await sleep(500);
    expect(web1on1.requests.slice(requestsBefore)).toEqual([]);
    expect(web1on1.getContact(contact.id)?.links).toHaveLength(1);
    // The DMS heard of the new contact and of the link, once each; the link's echo is not forwarded.
    expect(
      deliveriesFor(contact.id)
        .map((d) => `${(d.body as Notification).type} ${d.status}`)
        .sort(),
    ).toEqual(['contact.created 200', 'contact.linked 200']);
  });

  it('both processes shut down cleanly on SIGTERM', async () => {
    const { ingress, worker } = sys();
    const started = performance.now();
    const [ingressExit, workerExit] = await Promise.all([
      ingress.stop('SIGTERM', 10_000),
      worker.stop('SIGTERM', 10_000),
    ]);
    expect(ingressExit, ingress.tail()).toEqual({ code: 0, signal: null });
    expect(workerExit, worker.tail()).toEqual({ code: 0, signal: null });
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe('system: fail-fast configuration', () => {
  const started: AppProcess[] = [];
  afterAll(async () => {
    await Promise.all(started.map((p) => p.kill()));
  });

  async function exitWithin(app: AppProcess, ms: number) {
    started.push(app);
    const result = await Promise.race([app.exited, sleep(ms, 'timeout' as const)]);
    if (result === 'timeout')
      throw new Error(`${app.name} still running after ${ms} ms\n${app.tail()}`);
    return result;
  }

  it('the ingress refuses to start without DMS_API_KEYS and the worker with a malformed WEB1ON1_TOKEN', async () => {
    const [ingressPort, workerPort] = [await freePort(), await freePort()];
    const base = { REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: uniquePrefix() };
    const ingress = spawnApp('ingress', {
      ...base,
      PORT: String(ingressPort),
      HOST: '127.0.0.1',
      WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    const worker = spawnApp('worker', {
      ...base,
      WORKER_PORT: String(workerPort),
      WEB1ON1_TOKEN: 'not-a-jwt',
    });

    const [ingressExit, workerExit] = await Promise.all([
      exitWithin(ingress, 5_000),
      exitWithin(worker, 5_000),
    ]);
    expect(ingressExit.signal, ingress.tail()).toBeNull();
    expect(ingressExit.code, ingress.tail()).not.toBe(0);
    expect(workerExit.signal, worker.tail()).toBeNull();
    expect(workerExit.code, worker.tail()).not.toBe(0);

    // One line per problem, naming the variable; nothing else is wrong with these environments.
    const ingressProblems = ingress.logs.stderr.filter((l) => l.trim() !== '');
    expect(
      ingressProblems.some((l) => /\bDMS_API_KEYS\b/.test(l)),
      ingress.tail(),
    ).toBe(true);
    expect(ingressProblems, ingress.tail()).toHaveLength(1);
    const workerProblems = worker.logs.stderr.filter((l) => l.trim() !== '');
    expect(
      workerProblems.some((l) => /\bWEB1ON1_TOKEN\b/.test(l)),
      worker.tail(),
    ).toBe(true);
    expect(workerProblems, worker.tail()).toHaveLength(1);
  });
});
