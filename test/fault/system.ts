/**
 * Harness of the fault-injection suite: the whole system as an operator runs it (the real
 * `node apps/ingress/src/main.ts` and `node apps/worker/src/main.ts`, configured by environment only)
 * against a private redis-server, the Web1on1 sandbox and the DMS sandbox, all on 127.0.0.1. The
 * Web1on1 sandbox posts its signed `contact.*` webhooks to the ingress and the worker notifies the DMS
 * sandbox, so every scenario runs both flows, the echo of each link included.
 *
 * Besides starting and stopping, it holds what every scenario needs to state its result: posting
 * events, waiting until the queues are drained, the sliding-window count of Web1on1 requests, and the
 * final invariant check (every accepted job completed or dead-lettered exactly once, every expected
 * link on its Web1on1 contact exactly once).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  closeQueues,
  createQueues,
  createRedisConnection,
  listDeadLetters,
  QUEUE,
  type QueueSet,
  type WorkQueueName,
} from '@contact-linker/queues';
import {
  type AppProcess,
  type DmsSandbox,
  freePort,
  makeWebhookSecret,
  type PrivateRedis,
  type PrivateRedisOptions,
  type RecordedRequest,
  signHubSignature,
  startDmsSandbox,
  startIngressProcess,
  startPrivateRedis,
  startWorkerProcess,
  UNFINISHED_JOB_STATES,
  uniquePrefix,
  waitFor,
} from '@contact-linker/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startWeb1on1, type Web1on1Control } from './web1on1.ts';

export const ORG = 'org-fault';
export const API_KEY = 'fault-api-key-0123456789abcdef';
const APP_URL = 'https://app.fault.test';
const LINK_ICON = 'https://dms.fault.test/icon.png';

/** A 24-hex id, like the Mongo ObjectIds Web1on1 uses. */
export const objectId = (): string => randomBytes(12).toString('hex');

export interface SystemOptions {
  /** Worker processes started with the system. @defaultValue 2 */
  workers?: number;
  /**
   * `JOB_ATTEMPTS` of the ingress (which sets it on the jobs it enqueues) and of the workers (for the
   * `contact.linked` notifications they enqueue). @defaultValue the product's default (10)
   */
  jobAttempts?: number;
  /** Added to (and overriding) every worker's environment. */
  workerEnv?: Record<string, string>;
  /** Added to (and overriding) the ingress's environment. */
  ingressEnv?: Record<string, string>;
  /** @defaultValue no AOF */
  redis?: PrivateRedisOptions;
  /** Delay of every Web1on1 sandbox answer. @defaultValue 0 */
  web1on1LatencyMs?: number;
  /**
   * Run the Web1on1 sandbox in a process of its own, so its timestamps do not depend on the test
   * process's event loop (see the testkit's `web1on1-sandbox-process.ts`). @defaultValue false
   */
  web1on1OwnProcess?: boolean;
}

/** One answer of the ingress, as the caller saw it. */
export interface Answer {
  status: number;
  /** `jobId` of a 202 for `/updatecontact`. */
  jobId?: string;
  body: unknown;
  retryAfter: string | null;
  /** From sending the request to having read the whole answer. */
  ms: number;
  /** `performance.now()` when the request was sent. */
  sentAt: number;
}

export interface InvariantExpectations {
  /** Job ids of `/updatecontact` events answered 202. */
  linkJobs: readonly string[];
  /** `webhook-id`s (event ids) of `/webhook` events answered `queued`. */
  webhookIds?: readonly string[];
  /** Web1on1 contact id → the DMS ids whose link must be on it exactly once (and nothing else). */
  links: ReadonlyMap<string, readonly string[]>;
  /** How many dead letters the scenario expects in all. @defaultValue 0 */
  deadLetters?: number;
}

/** How the jobs the check looked at ended, by queue. */
export interface InvariantReport {
  linkCompleted: number;
  linkDeadLettered: number;
  notifyCompleted: number;
  notifyDeadLettered: number;
  /**
   * `contact.updated` notifications the DMS received for events the test did not post: echoes of the
   * links this system added, which the contract says are not forwarded: always 0 when the check passed.
   */
  echoes: number;
}

type Job = NonNullable<Awaited<ReturnType<QueueSet[WorkQueueName]['getJob']>>>;
type DeadLetterJob = NonNullable<Awaited<ReturnType<QueueSet['dead-letter']['getJob']>>>;

const QUEUED_STATES = UNFINISHED_JOB_STATES;
const ALL_STATES = [...QUEUED_STATES, 'completed', 'failed'] as const;

/** Runs `fn` over `items` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * The shortest time in which `count` timestamps fall: with `count = limit + 1`, a window of that
 * length or more always holds at most `limit`. `Infinity` when there are fewer than `count`.
 */
export function shortestSpan(timestamps: readonly number[], count: number): number {
  const sorted = [...timestamps].sort((a, b) => a - b);
  let min = Number.POSITIVE_INFINITY;
  for (let last = count - 1; last < sorted.length; last++) {
    min = Math.min(min, (sorted[last] as number) - (sorted[last - count + 1] as number));
  }
  return min;
}

/** One line per scenario, `[fault] <name>: k=v …`, to copy into the issue note. */
export function report(name: string, figures: Record<string, string | number>): void {
  const parts = Object.entries(figures).map(([k, v]) => `${k}=${v}`);
  console.log(`[fault] ${name}: ${parts.join(' ')}`);
}

/** Polls `fn` every millisecond or so (timers, not a busy loop) until it is true; bounded by `timeoutMs`. */
export async function whenSeen(
  fn: () => boolean,
  { timeoutMs, message }: { timeoutMs: number; message: string },
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!fn()) {
    if (performance.now() > deadline)
      throw new Error(`not seen within ${timeoutMs} ms: ${message}`);
    await sleep(1);
  }
}

export async function startSystem(opts: SystemOptions = {}) {
  const redis: PrivateRedis = await startPrivateRedis(opts.redis);
  const prefix = uniquePrefix();
  const ingressPort = await freePort();
  const ingressUrl = `http://127.0.0.1:${ingressPort}`;
  const webhookSecret = `fault-webhook-${randomBytes(8).toString('hex')}`;
  const dmsSecret = makeWebhookSecret();
  const web1on1: Web1on1Control = await startWeb1on1(
    {
      organizationId: ORG,
      webhook: { url: `${ingressUrl}/webhook`, secret: webhookSecret },
      latencyMs: opts.web1on1LatencyMs ?? 0,
    },
    { ownProcess: opts.web1on1OwnProcess ?? false },
  );
  const dms: DmsSandbox = await startDmsSandbox({ secret: dmsSecret });
  const urlTemplate = `${dms.baseUrl}/customer/{id}/`;

  const shared = {
    REDIS_URL: redis.url,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    DEFAULT_PHONE_COUNTRY: 'NL',
    ...(opts.jobAttempts === undefined ? {} : { JOB_ATTEMPTS: String(opts.jobAttempts) }),
  };
  const ingressEnv = {
    ...shared,
    PORT: String(ingressPort),
    HOST: '127.0.0.1',
    DMS_API_KEYS: API_KEY,
    WEB1ON1_WEBHOOK_SECRET: webhookSecret,
    INGRESS_RATE_LIMIT: '100000/1s',
    ...opts.ingressEnv,
  };
  const workerEnv = {
    ...shared,
    WEB1ON1_API_URL: web1on1.url,
    WEB1ON1_TOKEN: web1on1.credentials.token,
    WEB1ON1_REFRESH_TOKEN: web1on1.credentials.refreshToken,
    WEB1ON1_BOT_EMAIL: web1on1.credentials.botEmail,
    WEB1ON1_APP_URL: APP_URL,
    WEB1ON1_RATE_LIMIT: '1000/1s',
    DMS_CONTACT_URL_TEMPLATE: urlTemplate,
    DMS_LINK_ICON: LINK_ICON,
    DMS_NOTIFY_URL: dms.url,
    DMS_NOTIFY_SECRET: dmsSecret,
    ...opts.workerEnv,
  };

  /** Every process ever started, so `close()` and failure messages reach all of them. */
  const processes: AppProcess[] = [];
  const connection: Redis = createRedisConnection(redis.url, { role: 'worker' });
  // Scenarios stop Redis on purpose; ioredis reconnects by itself and must not log each attempt.
  connection.on('error', () => {});
  const queues: QueueSet = createQueues(connection, prefix);

  async function startIngress(): Promise<AppProcess> {
    const app = await startIngressProcess(ingressEnv);
    processes.push(app);
    return app;
  }
  async function startWorker(extra: Record<string, string> = {}): Promise<AppProcess> {
    const app = await startWorkerProcess({
      ...workerEnv,
      WORKER_PORT: String(await freePort()),
      ...extra,
    });
    processes.push(app);
    return app;
  }

  async function close(): Promise<void> {
    // Children first: they must never outlive the test, whichever assertion failed.
    await Promise.all(processes.map((p) => p.kill()));
    await closeQueues(queues).catch(() => {});
    connection.disconnect();
    await Promise.all([web1on1.close(), dms.close()]);
    await redis.stop();
  }

  const started = await Promise.allSettled([
    startIngress(),
    ...Array.from({ length: opts.workers ?? 2 }, () => startWorker()),
  ]);
  const failure = started.find((s) => s.status === 'rejected');
  if (failure) {
    await close();
    throw failure.reason;
  }
  const [ingress, ...workers] = started.map((s) => (s as PromiseFulfilledResult<AppProcess>).value);

  const logs = (lines = 40) => processes.map((p) => p.tail(lines)).join('\n');

  async function send(path: string, init: RequestInit): Promise<Answer> {
    const sentAt = performance.now();
    try {
      const res = await fetch(`${ingressUrl}${path}`, {
        ...init,
        signal: AbortSignal.timeout(5_000),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      const jobId = (body as { jobId?: unknown } | null)?.jobId;
      return {
        status: res.status,
        ...(typeof jobId === 'string' ? { jobId } : {}),
        body,
        retryAfter: res.headers.get('retry-after'),
        ms: performance.now() - sentAt,
        sentAt,
      };
    } catch (error) {
      // No answer at all (refused, reset, our own 5 s timeout): status 0.
      const message = error instanceof Error ? error.message : String(error);
      return { status: 0, body: message, retryAfter: null, ms: performance.now() - sentAt, sentAt };
    }
  }

  /** `POST /updatecontact` with the Bearer key. Never throws; a missing answer is status 0. */
  function postContact(event: Record<string, unknown>): Promise<Answer> {
    return send('/updatecontact', {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
  }

  /** `POST /webhook`, signed with `X-Hub-Signature` exactly as Web1on1 signs it. */
  function postWebhook(envelope: Record<string, unknown>): Promise<Answer> {
    const raw = JSON.stringify(envelope);
    return send('/webhook', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature': signHubSignature(raw, webhookSecret),
      },
      body: raw,
    });
  }

  /** `GET /jobs/:id` with the Bearer key. */
  function jobStatus(jobId: string): Promise<Answer> {
    return send(`/jobs/${encodeURIComponent(jobId)}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
  }

  /** Posts `events` with at most `concurrency` in flight and expects a 202 with a jobId for each. */
  async function postAll(events: readonly Record<string, unknown>[], concurrency = 16) {
    const answers = await mapLimit(events, concurrency, (event) => postContact(event));
    const refused = answers.filter((a) => a.status !== 202 || a.jobId === undefined);
    if (refused.length > 0) {
      throw new Error(
        `${refused.length} of ${events.length} events not accepted, e.g. ${JSON.stringify(refused[0])}\n${logs()}`,
      );
    }
    return answers.map((a) => a.jobId as string);
  }

  /** Contacts in the Web1on1 sandbox for `count` DMS events of `organization`, one email each. */
  async function seedContacts(count: number, tag: string, organization = ORG) {
    const emails = Array.from({ length: count }, (_, i) => `${tag}-${i}@example.com`);
    const contacts = await web1on1.addContacts(
      emails.map((email, i) => ({ organization, profile: { email, name: `${tag} ${i}` } })),
    );
    return contacts.map((contact, i) => {
      const dmsId = `${tag.toUpperCase()}-${i}`;
      const email = emails[i] as string;
      // The DMS event that finds this contact (by its email).
      return { contact, dmsId, email, event: { id: dmsId, organization, email } };
    });
  }

  /** A Web1on1 `contact.update` webhook envelope for `contact` with a fresh event id. */
  function contactUpdate(contact: {
    id: string;
    conversation: string;
    profile: Record<string, unknown>;
  }) {
    return {
      id: objectId(),
      event: 'contact.update',
      timestamp: Date.now(),
      organization: ORG,
      data: { contact: { ...contact, organization: ORG, links: [] } },
    };
  }

  async function queuedCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const name of [QUEUE.linkContact, QUEUE.notifyDms] as const) {
      const byState = await queues[name].getJobCounts(...QUEUED_STATES);
      for (const [state, n] of Object.entries(byState)) if (n > 0) counts[`${name}.${state}`] = n;
    }
    return counts;
  }

  /**
   * Until no link-contact or notify-dms job is waiting, running, scheduled for a retry or paused,
   * seen twice 500 ms apart (the sandbox's echo webhooks arrive a little after the PATCH that caused
   * them). Resolves with the time it took.
   */
  async function waitDrained(timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    let last: Record<string, number> = {};
    await waitFor(
      async () => {
        last = await queuedCounts();
        if (Object.keys(last).length > 0) return false;
        await sleep(500);
        last = await queuedCounts();
        return Object.keys(last).length === 0;
      },
      { timeoutMs, intervalMs: 100, message: 'queues drained' },
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}; still queued: ${JSON.stringify(last)}\n${logs()}`,
        {
          cause: error,
        },
      );
    });
    return performance.now() - started;
  }

  /** Every job in the dead-letter queue, with the origin it names. */
  async function deadLetterJobs(): Promise<DeadLetterJob[]> {
    const jobs = await queues[QUEUE.deadLetter].getJobs([...ALL_STATES], 0, -1);
    return jobs.filter((j): j is DeadLetterJob => j !== undefined);
  }

  async function allJobs(queue: WorkQueueName): Promise<Job[]> {
    const jobs = await queues[queue].getJobs([...ALL_STATES], 0, -1);
    return jobs.filter((j): j is Job => j !== undefined);
  }

  /** The `url`s on each Web1on1 contact, counted. */
  async function linkCounts(): Promise<Map<string, Map<string, number>>> {
    const byContact = new Map<string, Map<string, number>>();
    for (const contact of await web1on1.contacts()) {
      const counts = new Map<string, number>();
      for (const link of contact.links) counts.set(link.url, (counts.get(link.url) ?? 0) + 1);
      byContact.set(contact.id, counts);
    }
    return byContact;
  }

  const linkUrl = (dmsId: string) => urlTemplate.replace('{id}', encodeURIComponent(dmsId));

  /**
   * The suite's invariant, checked after the queues drained:
   * 1. every `/updatecontact` answered 202 (and every notify-dms job, the webhooks the test posted
   *    included) ends `completed` with no dead letter, or removed with exactly one dead letter
   *    naming it; nothing is waiting, running, lost or dead-lettered twice;
   * 2. every Web1on1 contact in `links` carries each expected link exactly once and no other;
   * 3. the DMS accepted a signed `contact.linked` for each of those links;
   * 4. the dead-letter queue holds exactly `deadLetters` letters, and `listDeadLetters` agrees.
   * Returns the problems as one list so a failure names all of them, not just the first.
   */
  async function checkInvariants(want: InvariantExpectations): Promise<InvariantReport> {
    const problems: string[] = [];
    const letters = await deadLetterJobs();
    const lettersFor = (queue: string, jobId: string) =>
      letters.filter((l) => l.data.queue === queue && l.data.jobId === jobId).length;

    const ended = { completed: new Map<string, number>(), deadLettered: new Map<string, number>() };
    const bump = (m: Map<string, number>, queue: string) => m.set(queue, (m.get(queue) ?? 0) + 1);
    const settle = async (queue: WorkQueueName, jobId: string) => {
      const state = await queues[queue].getJobState(jobId);
      const count = lettersFor(queue, jobId);
      if (state === 'completed' && count === 0) bump(ended.completed, queue);
      // A job that failed for good is removed once its letter is written ('unknown'); 'failed'
      // only while a move is under way.
      else if ((state === 'unknown' || state === 'failed') && count === 1)
        bump(ended.deadLettered, queue);
      else problems.push(`${queue} job ${jobId}: state ${state} with ${count} dead letter(s)`);
    };

    const linkJobs = new Set(want.linkJobs);
    if (linkJobs.size !== want.linkJobs.length) {
      problems.push(`${want.linkJobs.length - linkJobs.size} accepted events share a jobId`);
    }
    await mapLimit([...linkJobs], 32, (jobId) => settle(QUEUE.linkContact, jobId));

    // Notify-dms jobs are listed from their queue and, once dead-lettered, from their letters.
    const notifyJobs = [
      ...(await allJobs(QUEUE.notifyDms)).map((j) => ({ id: String(j.id), data: j.data })),
      ...letters
        .filter((l) => l.data.queue === QUEUE.notifyDms)
        .map((l) => ({ id: l.data.jobId, data: l.data.data })),
    ];
    const notifyIds = new Set(notifyJobs.map((j) => j.id));
    if (notifyIds.size !== notifyJobs.length) {
      problems.push('a notify-dms job is both queued and dead-lettered');
    }
    await mapLimit([...notifyIds], 32, (jobId) => settle(QUEUE.notifyDms, jobId));
    const notifiedIds = new Set(
      notifyJobs.map((j) => (j.data as { webhookId?: string }).webhookId),
    );
    for (const id of want.webhookIds ?? []) {
      if (!notifiedIds.has(id))
        problems.push(`webhook ${id} was accepted but has no notify-dms job`);
    }

    const links = await linkCounts();
    for (const [contactId, dmsIds] of want.links) {
      const counts = links.get(contactId) ?? new Map<string, number>();
      const expected = new Set(dmsIds.map(linkUrl));
      for (const url of expected) {
        const n = counts.get(url) ?? 0;
        if (n !== 1) problems.push(`contact ${contactId}: link ${url} present ${n} times`);
      }
      for (const [url, n] of counts) {
        if (!expected.has(url)) problems.push(`contact ${contactId}: unexpected link ${url} ×${n}`);
      }
    }

    // Each link made is announced to the DMS (contact.linked), accepted at least once: a crash
    // between delivery and completion may repeat it under the same webhook-id.
    const announced = new Set(
      dms.accepted().flatMap((d) => {
        const body = d.body as {
          type?: string;
          data?: { contactId?: string; dmsContactId?: string };
        };
        return body?.type === 'contact.linked'
          ? [`${body.data?.contactId} ${body.data?.dmsContactId}`]
          : [];
      }),
    );
    for (const [contactId, dmsIds] of want.links) {
      for (const dmsId of dmsIds) {
        if (!announced.has(`${contactId} ${dmsId}`)) {
          problems.push(`contact ${contactId}: no contact.linked for ${dmsId} accepted by the DMS`);
        }
      }
    }

    const listed = await listDeadLetters(queues[QUEUE.deadLetter]);
    const wanted = want.deadLetters ?? 0;
    if (letters.length !== wanted || listed.length !== wanted) {
      problems.push(
        `expected ${wanted} dead letters, found ${letters.length} (listDeadLetters: ${listed.length}): ${JSON.stringify(listed.slice(0, 5))}`,
      );
    }
    const posted = new Set(want.webhookIds ?? []);
    const echoes = new Set(
      dms.deliveries
        .filter((d) => (d.body as { type?: string } | undefined)?.type === 'contact.updated')
        .map((d) => d.webhookId)
        .filter((id) => id === undefined || !posted.has(id)),
    ).size;
    if (echoes > 0) problems.push(`${echoes} echoes of this system's own links reached the DMS`);
    if (problems.length > 0) {
      throw new Error(
        `invariant violated (${problems.length} problems):\n${problems.slice(0, 30).join('\n')}\n${logs()}`,
      );
    }
    return {
      echoes,
      linkCompleted: ended.completed.get(QUEUE.linkContact) ?? 0,
      linkDeadLettered: ended.deadLettered.get(QUEUE.linkContact) ?? 0,
      notifyCompleted: ended.completed.get(QUEUE.notifyDms) ?? 0,
      notifyDeadLettered: ended.deadLettered.get(QUEUE.notifyDms) ?? 0,
    };
  }

  /** Web1on1 requests whose path is a contact (not token renewals), in arrival order. */
  const apiRequests = async (): Promise<RecordedRequest[]> =>
    (await web1on1.requests()).filter((r) => r.path.startsWith('/v2/contacts'));

  return {
    redis,
    prefix,
    web1on1,
    dms,
    queues,
    ingress: ingress as AppProcess,
    workers,
    startIngress,
    startWorker,
    postContact,
    postWebhook,
    postAll,
    jobStatus,
    seedContacts,
    contactUpdate,
    waitDrained,
    deadLetterJobs,
    allJobs,
    checkInvariants,
    apiRequests,
    logs,
    close,
  };
}

export type FaultSystem = Awaited<ReturnType<typeof startSystem>>;

/** The links the seeded contacts must end with: each its own DMS id, once. */
export function expectedLinks(
  seeded: ReadonlyArray<{ contact: { id: string }; dmsId: string }>,
): Map<string, string[]> {
  return new Map(seeded.map((s) => [s.contact.id, [s.dmsId]]));
}

/**
 * Starts the system before the tests of the enclosing `describe` and closes it after them. The
 * returned function hands a test the running system, and fails the test when it did not start.
 */
export function systemForSuite(opts: SystemOptions = {}): () => FaultSystem {
  let sys: FaultSystem | undefined;
  beforeAll(async () => {
    sys = await startSystem(opts);
  });
  afterAll(async () => {
    await sys?.close();
  });
  return () => {
    if (!sys) throw new Error('system did not start');
    return sys;
  };
}
