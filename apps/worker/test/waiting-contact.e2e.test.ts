/**
 * A waiting DMS contact, end to end through the real `start:ingress` and `start:worker` processes
 * (NOT_FOUND_ATTEMPTS=1), a private redis-server and the sandboxes in this test process: a DMS event
 * for a contact Web1on1 does not have yet completes `not_found`; the contact is then created in the
 * Web1on1 sandbox over HTTP, whose signed `contact.create` webhook reaches the ingress; the worker
 * links the two with one search and one PATCH and tells the DMS (`contact.linked` with the DMS id);
 * and the same DMS event posted again is answered from the link memory, without any Web1on1 request.
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
  startDmsSandbox,
  startIngressProcess,
  startPrivateRedis,
  startWeb1on1Sandbox,
  startWorkerProcess,
  uniquePrefix,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ORG = 'org-e2e-waiting';
const API_KEY = 'e2e-waiting-key-0123456789abcdef';
const WEBHOOK_SECRET = `e2e-webhook-${randomBytes(8).toString('hex')}`;
const LINK_ICON = 'https://dms.e2e.test/icon.png';

interface JobStatus {
  jobId: string;
  state: string;
  outcome?: string;
  result?: { contactId: string; conversation: string | null };
}

interface Notification {
  type: string;
  organization: string;
  data: { contactId: string; conversation: string | null; dmsContactId?: string };
}

describe('system: a DMS contact waits for its Web1on1 contact', () => {
  let redis: PrivateRedis | undefined;
  let web1on1: Web1on1Sandbox | undefined;
  let dms: DmsSandbox | undefined;
  let ingress: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let dmsUrlTemplate = '';

  const sys = () => {
    if (!web1on1 || !dms || !ingress || !worker) {
      throw new Error('system did not start (see beforeAll)');
    }
    return { web1on1, dms, ingress, worker };
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
        DMS_API_KEYS: API_KEY,
        WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
      }),
      startWorkerProcess({
        ...shared,
        WORKER_PORT: String(workerPort),
        WEB1ON1_API_URL: web1on1.url,
        WEB1ON1_TOKEN: web1on1.issueToken(),
        WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
        WEB1ON1_BOT_EMAIL: web1on1.botEmail,
        WEB1ON1_APP_URL: 'https://app.e2e.test',
        DMS_CONTACT_URL_TEMPLATE: dmsUrlTemplate,
        DMS_LINK_ICON: LINK_ICON,
        DMS_NOTIFY_URL: dms.url,
        DMS_NOTIFY_SECRET: dmsSecret,
        // One lookup, then `not_found` and waiting: no backoff between lookups to sit through.
        NOT_FOUND_ATTEMPTS: '1',
      }),
    ]);
  });

  afterAll(async () => {
    // Children first: they must never outlive the test, whichever test failed.
    await Promise.all([ingress?.kill(), worker?.kill()]);
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
    return answer.jobId;
  }

  async function settledJob(jobId: string): Promise<JobStatus> {
    return waitFor(
      async () => {
        const res = await api(`/jobs/${encodeURIComponent(jobId)}`);
        expect(res.status).toBe(200);
        const job = (await res.json()) as JobStatus;
        return ['completed', 'failed', 'dead-lettered'].includes(job.state) ? job : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, message: `job ${jobId} settled` },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${logsOf()}`, { cause: error });
    });
  }

  const deliveriesFor = (contactId: string): DmsDelivery[] =>
    sys().dms.deliveries.filter(
      (d) => (d.body as Notification | undefined)?.data?.contactId === contactId,
    );

  it('links it when the Web1on1 contact is created, and answers a repeat from the link memory', async () => {
    const { web1on1, dms } = sys();
    const dmsId = 'DMS-WAIT-1';
    const event = { id: dmsId, organization: ORG, email: '  Late.Visitor@Example.com ' };

    // 1. Nobody to link yet: one search, then `not_found`.
    const first = await postContact(event);
    expect(await settledJob(first)).toEqual({
      jobId: first,
      state: 'completed',
      outcome: 'not_found',
    });
    const searches = web1on1.requests.map((r) => `${r.method} ${r.path}`);
    expect(searches).toEqual(['GET /v2/contacts']);
    expect(web1on1.requests[0]?.query).toMatchObject({
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
    expect(web1on1.requests.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual([
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
});
