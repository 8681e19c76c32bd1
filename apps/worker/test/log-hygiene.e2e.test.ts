/**
 * Log hygiene of the real processes (the contract: "Secrets and tokens never reach logs; emails and
 * phone numbers are redacted in logs"; README, Security model). The real `start:ingress` and `start:worker` run at
 * LOG_LEVEL=debug against a private redis-server and both sandboxes; both flows are driven through
 * their happy and unhappy paths (wrong API key, wrong signature, Web1on1 503s, an expired token
 * renewed with the refresh token, a Web1on1 error that echoes PII, a DMS outage), and then every line
 * either process wrote, stdout and stderr, is searched for every secret and every email and phone
 * number the run used, in every form they were used in.
 */
import { randomBytes } from 'node:crypto';
import {
  type AppProcess,
  type DmsSandbox,
  freePort,
  makeWebhookSecret,
  type PrivateRedis,
  signHubSignature,
  startDmsSandbox,
  startIngressProcess,
  startPrivateRedis,
  startWeb1on1Sandbox,
  startWorkerProcess,
  uniquePrefix,
  type Web1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ORG = 'org-log-hygiene';
const API_KEY = `dms-key-${randomBytes(16).toString('hex')}`;
const OTHER_API_KEY = `dms-other-${randomBytes(16).toString('hex')}`;
const WRONG_API_KEY = `dms-wrong-${randomBytes(16).toString('hex')}`;
const WEBHOOK_SECRET = `hook-secret-${randomBytes(16).toString('hex')}`;
const DMS_NOTIFY_SECRET = makeWebhookSecret();
const APP_URL = 'https://app.hygiene.test';

/** Every email and phone number the run uses, with the forms in which each was sent anywhere. */
const JANE = {
  dmsId: 'DMS-LOG-1',
  emailSent: '  Hygiene.Jane@Example.com ',
  email: 'hygiene.jane@example.com',
  phoneSent: '06 13572468',
  phoneE164: '+31613572468',
};
const JANE_WEBHOOK_PHONE = { sent: '+31 20 765 4321', e164: '+31207654321' };
const SAM = {
  dmsId: 'DMS-LOG-2',
  email: 'retry.sam@example.com',
  phoneSent: '0624681357',
  phoneE164: '+31624681357',
};
const PIET = { dmsId: 'DMS-LOG-3', phoneSent: '06-35791357', phoneE164: '+31635791357' };
const ECHO_EMAIL = 'echoed.visitor@example.org';
/** What a careless caller puts into a query string. */
const QUERY = {
  email: 'query.visitor@example.net',
  phone: '+31646802468',
  national: '06-46802468',
};

const EMAILS = [JANE.email, SAM.email, ECHO_EMAIL, QUERY.email];
/** Phone numbers in every form: as sent, E.164, E.164 without `+`, national, and the bare subscriber digits. */
const PHONES = [
  ...new Set(
    [
      JANE.phoneSent,
      JANE.phoneE164,
      JANE_WEBHOOK_PHONE.sent,
      JANE_WEBHOOK_PHONE.e164,
      SAM.phoneSent,
      SAM.phoneE164,
      PIET.phoneSent,
      PIET.phoneE164,
      QUERY.phone,
      QUERY.national,
    ].flatMap((p) => {
      const digits = p.replace(/\D/g, '');
      const national = digits.startsWith('31') ? digits.slice(2) : digits.replace(/^0/, '');
      return [p, digits, `0${national}`, national, `%2B${digits}`];
    }),
  ),
];

const JWT = /eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}/;

interface JobStatus {
  jobId: string;
  state: string;
  outcome?: string;
}

describe('log hygiene: real ingress and worker at LOG_LEVEL=debug', () => {
  let redis: PrivateRedis | undefined;
  let web1on1: Web1on1Sandbox | undefined;
  let dms: DmsSandbox | undefined;
  let ingress: AppProcess | undefined;
  let worker: AppProcess | undefined;
  let queueRedis: Redis | undefined;
  let prefix = '';
  let expiredToken = '';
  const secrets = new Map<string, string>([
    ['DMS API key', API_KEY],
    ['the other DMS API key', OTHER_API_KEY],
    ['the wrong DMS API key a caller sent', WRONG_API_KEY],
    ['WEB1ON1_WEBHOOK_SECRET', WEBHOOK_SECRET],
    ['DMS_NOTIFY_SECRET', DMS_NOTIFY_SECRET],
    ['DMS_NOTIFY_SECRET base64 part', DMS_NOTIFY_SECRET.slice('whsec_'.length)],
  ]);

  const sys = () => {
    if (!web1on1 || !dms || !ingress || !worker || !queueRedis) {
      throw new Error('system did not start (see beforeAll)');
    }
    return { web1on1, dms, ingress, worker, queueRedis };
  };
  const tails = () => [ingress?.tail(60), worker?.tail(60)].filter(Boolean).join('\n');

  beforeAll(async () => {
    redis = await startPrivateRedis();
    prefix = uniquePrefix();
    const [ingressPort, workerPort] = [await freePort(), await freePort()];
    web1on1 = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `http://127.0.0.1:${ingressPort}/webhook`, secret: WEBHOOK_SECRET },
    });
    dms = await startDmsSandbox({ secret: DMS_NOTIFY_SECRET });
    // Expired before the worker ever uses it: the first Web1on1 call must renew it.
    expiredToken = web1on1.issueToken({ expiresInSec: -3600 });
    secrets.set('expired WEB1ON1_TOKEN', expiredToken);
    secrets.set('WEB1ON1_REFRESH_TOKEN', web1on1.refreshToken);
    for (const [name, token] of [
      ['expired WEB1ON1_TOKEN', expiredToken],
      ['WEB1ON1_REFRESH_TOKEN', web1on1.refreshToken],
    ] as const) {
      secrets.set(`${name} (signature part)`, token.split('.')[2] ?? token);
    }

    const shared = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'debug',
      DEFAULT_PHONE_COUNTRY: 'NL',
    };
    [ingress, worker] = await Promise.all([
      startIngressProcess({
        ...shared,
        PORT: String(ingressPort),
        HOST: '127.0.0.1',
        DMS_API_KEYS: `${OTHER_API_KEY},${API_KEY}`,
        WEB1ON1_WEBHOOK_SECRET: WEBHOOK_SECRET,
      }),
      startWorkerProcess({
        ...shared,
        WORKER_PORT: String(workerPort),
        WEB1ON1_API_URL: web1on1.url,
        WEB1ON1_TOKEN: expiredToken,
        WEB1ON1_REFRESH_TOKEN: web1on1.refreshToken,
        WEB1ON1_BOT_EMAIL: web1on1.botEmail,
        WEB1ON1_APP_URL: APP_URL,
        DMS_CONTACT_URL_TEMPLATE: `${dms.baseUrl}/customer/{id}/`,
        DMS_NOTIFY_URL: dms.url,
        DMS_NOTIFY_SECRET,
        JOB_ATTEMPTS: '10',
      }),
    ]);
    queueRedis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await Promise.all([ingress?.kill(), worker?.kill()]);
    queueRedis?.disconnect();
    await Promise.all([web1on1?.close(), dms?.close()]);
    await redis?.stop();
  });

  async function api(path: string, init: RequestInit = {}, key = API_KEY): Promise<Response> {
    return fetch(`${sys().ingress.url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, ...init.headers },
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

  async function settledJob(jobId: string, timeoutMs = 20_000): Promise<JobStatus> {
    return waitFor(
      async () => {
        const job = (await (await api(`/jobs/${encodeURIComponent(jobId)}`)).json()) as JobStatus;
        return ['completed', 'failed', 'dead-lettered'].includes(job.state) ? job : undefined;
      },
      { timeoutMs, intervalMs: 100, message: `job ${jobId} settled` },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${tails()}`, { cause: error });
    });
  }

  const hubSignatures: string[] = [];

  async function postWebhook(raw: string, secret = WEBHOOK_SECRET): Promise<Response> {
    const signature = signHubSignature(raw, secret);
    hubSignatures.push(signature.slice('sha1='.length));
    return fetch(`${sys().ingress.url}/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature': signature },
      body: raw,
      signal: AbortSignal.timeout(5_000),
    });
  }

  let janeContactId = '';

  it('DMS → Web1on1: links a contact with email and phone, renewing the expired token first', async () => {
    const { web1on1, dms, queueRedis } = sys();
    const jane = web1on1.addContact({
      organization: ORG,
      profile: { email: JANE.email, telephone: JANE.phoneE164, name: 'Jane Hygiene' },
    });
    janeContactId = jane.id;
    const jobId = await postContact({
      id: JANE.dmsId,
      organization: ORG,
      email: JANE.emailSent,
      phone: JANE.phoneSent,
    });
    expect(await settledJob(jobId)).toMatchObject({ state: 'completed', outcome: 'linked' });
    expect(web1on1.getContact(jane.id)?.links).toHaveLength(1);

    // The expired token was renewed with the refresh token; the new one sits in the shared store.
    expect(web1on1.tokenRefreshes).toBeGreaterThanOrEqual(1);
    const stored = JSON.parse((await queueRedis.get(`${prefix}:web1on1:tokens`)) ?? '{}') as {
      token?: string;
      refreshToken?: string;
    };
    expect(stored.token).toMatch(JWT);
    expect(stored.token).not.toBe(expiredToken);
    secrets.set('renewed Web1on1 access token', stored.token ?? '');
    secrets.set('renewed Web1on1 access token (signature part)', stored.token?.split('.')[2] ?? '');
    if (stored.refreshToken) secrets.set('stored refresh token', stored.refreshToken);

    const linked = await waitFor(
      () =>
        dms.deliveries.find(
          (d) =>
            (d.body as { type?: string; data?: { contactId?: string } } | undefined)?.type ===
              'contact.linked' &&
            (d.body as { data: { contactId: string } }).data.contactId === jane.id,
        ),
      { timeoutMs: 10_000, message: 'contact.linked at the DMS' },
    );
    expect(linked.verified).toBe(true);
  });

  it('Web1on1 → DMS: a signed contact.update is delivered, through one DMS 503', async () => {
    const { dms } = sys();
    dms.failNext(1, { status: 503 });
    const eventId = randomBytes(12).toString('hex');
    const raw = JSON.stringify({
      id: eventId,
      event: 'contact.update',
      timestamp: Date.now(),
      organization: ORG,
      data: {
        contact: {
          id: janeContactId,
          organization: ORG,
          conversation: 'conv-hygiene',
          profile: { email: JANE.email, telephone: JANE_WEBHOOK_PHONE.sent, name: 'Jane Changed' },
        },
      },
    });
    const res = await postWebhook(raw);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'queued' });
    const delivery = await waitFor(
      () => dms.deliveries.find((d) => d.webhookId === eventId && d.status === 200),
      { timeoutMs: 15_000, message: `DMS delivery ${eventId}` },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${tails()}`, { cause: error });
    });
    expect(delivery.verified).toBe(true);
    expect(dms.deliveries.filter((d) => d.webhookId === eventId).length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a wrong API key and a wrong webhook signature with 401', async () => {
    const wrongKey = await api(
      '/updatecontact',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'X', organization: ORG, email: JANE.email }),
      },
      WRONG_API_KEY,
    );
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as { error: string }).error).toBe('unauthorized');
    const wrongKeyJobs = await api('/jobs/00000000-0000-4000-8000-000000000000', {}, WRONG_API_KEY);
    expect(wrongKeyJobs.status).toBe(401);

    const raw = JSON.stringify({
      id: randomBytes(12).toString('hex'),
      event: 'contact.update',
      organization: ORG,
      data: { contact: { id: janeContactId, profile: { email: JANE.email } } },
    });
    const wrongSignature = await postWebhook(raw, `not-${WEBHOOK_SECRET}`);
    expect(wrongSignature.status).toBe(401);
    expect(((await wrongSignature.json()) as { error: string }).error).toBe('invalid_signature');
  });

  it('retries through Web1on1 503 answers and still links', async () => {
    const { web1on1 } = sys();
    const sam = web1on1.addContact({
      organization: ORG,
      profile: { email: SAM.email, telephone: SAM.phoneE164, name: 'Sam Retry' },
    });
    const before = web1on1.requests.length;
    web1on1.failNext(2, { status: 503 });
    const jobId = await postContact({
      id: SAM.dmsId,
      organization: ORG,
      email: SAM.email,
      telephone: SAM.phoneSent,
    });
    expect(await settledJob(jobId, 30_000)).toMatchObject({
      state: 'completed',
      outcome: 'linked',
    });
    expect(web1on1.requests.slice(before).filter((r) => r.status === 503)).toHaveLength(2);
    expect(web1on1.getContact(sam.id)?.links).toHaveLength(1);
  });

  it('dead-letters a Web1on1 400 whose message echoes the phone, an email and the token', async () => {
    const { web1on1 } = sys();
    const token = secrets.get('renewed Web1on1 access token') ?? expiredToken;
    web1on1.failNext(1, {
      status: 400,
      method: 'GET',
      body: {
        error: {
          status: 400,
          name: 'BadRequestError',
          message: `Invalid filter profile.telephone=${PIET.phoneE164} for ${ECHO_EMAIL} (token ${token})`,
        },
      },
    });
    const jobId = await postContact({ id: PIET.dmsId, organization: ORG, phone: PIET.phoneSent });
    expect(await settledJob(jobId)).toMatchObject({ state: 'dead-lettered' });
  });

  it('answers a caller that puts an email and phone numbers into query strings', async () => {
    const { ingress } = sys();
    const query = `email=${encodeURIComponent(QUERY.email)}&phone=${encodeURIComponent(QUERY.phone)}`;
    const unknownJob = await api(`/jobs/00000000-0000-4000-8000-000000000000?${query}`);
    expect(unknownJob.status).toBe(404);
    // Unencoded, the way a hand-built URL often looks.
    const wrongMethod = await fetch(
      `${ingress.url}/updatecontact?email=${QUERY.email}&phone=${QUERY.phone}&tel=${QUERY.national}`,
      { headers: { authorization: `Bearer ${API_KEY}` }, signal: AbortSignal.timeout(5_000) },
    );
    expect(wrongMethod.status).toBe(404);
  });

  it('neither process logged a secret, a token, an email or a phone number', async () => {
    const { ingress, worker } = sys();
    // A clean stop flushes everything either process still had to say.
    const [ingressExit, workerExit] = await Promise.all([ingress.stop(), worker.stop()]);
    expect(ingressExit.code, ingress.tail()).toBe(0);
    expect(workerExit.code, worker.tail()).toBe(0);

    const lines = [
      ...ingress.logs.stdout.map((line) => ({ from: 'ingress stdout', line })),
      ...ingress.logs.stderr.map((line) => ({ from: 'ingress stderr', line })),
      ...worker.logs.stdout.map((line) => ({ from: 'worker stdout', line })),
      ...worker.logs.stderr.map((line) => ({ from: 'worker stderr', line })),
    ].filter(({ line }) => line.trim() !== '');

    // Not vacuous: both processes logged, the ingress logged the requests of this run (the 401s
    // included), and the worker logged its start, the dead letter and its shutdown.
    const ingressText = ingress.logs.stdout.join('\n');
    const workerText = worker.logs.stdout.join('\n');
    expect(lines.length).toBeGreaterThan(20);
    expect(ingressText).toContain('"path":"/updatecontact"');
    expect(ingressText).toContain('"path":"/webhook"');
    expect(ingressText).toMatch(/"statusCode":401/);
    expect(ingressText).toMatch(/"statusCode":202/);
    expect(workerText).toContain('worker started');
    expect(workerText).toContain('dead-lettered');
    // Every needle is checked to be a real value, so an empty one cannot match everything.
    for (const [name, value] of secrets) expect(value.length, name).toBeGreaterThanOrEqual(16);
    expect(secrets.has('renewed Web1on1 access token')).toBe(true);

    /** One entry per leaking line, naming everything found in it. */
    const leaks: string[] = [];
    for (const { from, line } of lines) {
      const lower = line.toLowerCase();
      const found = [
        ...[...secrets].filter(([, value]) => line.includes(value)).map(([name]) => name),
        ...(hubSignatures.some((signature) => lower.includes(signature))
          ? ['an X-Hub-Signature']
          : []),
        ...(JWT.test(line) ? ['a JWT'] : []),
        ...EMAILS.filter(
          (email) =>
            lower.includes(email) || lower.includes(encodeURIComponent(email).toLowerCase()),
        ).map((email) => `email ${email}`),
        ...PHONES.filter((phone) => line.includes(phone)).map((phone) => `phone ${phone}`),
      ];
      if (found.length > 0) leaks.push(`${from}: ${found.join(', ')} in ${line.slice(0, 400)}`);
    }
    expect(leaks, leaks.join('\n')).toEqual([]);

    // Anything that did log an email logged it masked.
    for (const { line } of lines) {
      for (const match of line.matchAll(/[^\s"]*@example\.(?:com|org)/g)) {
        expect(match[0], line).toMatch(/\*\*\*@example\.(com|org)$/);
      }
    }
  });
});
