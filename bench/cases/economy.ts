/**
 * economy: where the Web1on1 budget goes now that the worker keeps a link memory and waiting DMS
 * contacts. One ingress and one worker (`WEB1ON1_RATE_LIMIT=1000/1s`, far above what is spent, so
 * the case is short: the ratio of requests is what counts), `DMS_NOTIFY_URL` pointing at the DMS
 * sandbox (the production loop: creates, updates and links are told to the DMS), and a Web1on1
 * sandbox of the case's own whose `webhook` option sends signed `contact.create` / `contact.update`
 * webhooks to the ingress's `POST /webhook`, as Web1on1 does: for contacts created over HTTP and for
 * every PATCH the worker makes. Every figure is counted from the sandbox's request log (`/v2/*`).
 *
 * 1. **Mix.** 1000 Web1on1 contacts exist (seeded, no webhooks). Warm-up, not counted: the first 900
 *    DMS contacts are posted once (`POST /updatecontact`, 200/s) and linked. Measured: 1000 events
 *    in a shuffled order at 200/s: the 100 new DMS contacts (their Web1on1 contact exists, so each is
 *    found and linked: list + PATCH), 700 unchanged re-posts of linked ones, and 200 re-posts whose
 *    `firstName` and `street` changed (fields the contract ignores). Figure: `/v2/*` requests ÷
 *    events, from the first post until both queues are idle.
 * 2. **Seeding.** `POST /updatecontacts` (500 items per request) of 2000 DMS contacts, 100 of which
 *    exist in Web1on1. Data shape: the ~300-byte body of the other cases **without a telephone**
 *    (id, organization, a distinct email, name, address, dealer fields). Why: the goal is about the
 *    one lookup a bulk item gets, and a contact known by email only makes exactly one search when
 *    nobody is found; a contact that also has a phone is searched by email, then by the E.164 phone,
 *    then by the number as the DMS sent it (up to three requests for one "lookup"). That shape is
 *    measured too, as an info row: 500 more items with email and a distinct national mobile number
 *    (`06 3xxxxxxx`), 25 of them in Web1on1. Figure: requests ÷ seeded contacts.
 *    Then the 1900 unfound email-only contacts start chatting: each is created in the Web1on1 sandbox
 *    over HTTP (`POST /_sandbox/contacts`, its email as Web1on1 stores it, lower-cased), so the
 *    sandbox sends its `contact.create`; interleaved at random with 500 strangers (email and phone
 *    nobody waits for), 100 creations/s. Figures: per chatter, the time from just before its create
 *    request left the bench to the sandbox's `endedAt` of the PATCH carrying its link; requests ÷
 *    links made over the whole phase; requests about strangers (searches by their email or phone,
 *    reads or writes of their contact).
 * 3. **Redis.** Each organization keeps its entries in a few hashes, one field per entry, so an
 *    entry's bytes are its share (`MEMORY USAGE key SAMPLES 0` ÷ fields) of each hash it is in: a
 *    remembered link is in `links:{org}` (by DMS id) and `linked:{org}` (by Web1on1 contact); a
 *    waiting contact in `waiting:{org}`, `waiting-email:{org}` and, with a phone, `waiting-phone:{org}`.
 *    Links are read at the end of the run (every link of the case), waiting contacts right after
 *    seeding (both shapes). As a cross-check (info), the `used_memory` drop when all of them are
 *    deleted after the processes stopped.
 *
 * One run, in smoke and full mode alike: the full sizes take about a minute, and three runs would pass
 * the case's 2-minute share of the bench. The request and byte figures are counts that do not move
 * from run to run; the webhook→linked latency does (it is a backlog on a shared machine; see the
 * per-second p50/p99 and the stage split in the JSON and the notes).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUE } from '@contact-linker/queues';
import {
  type DmsSandbox,
  makeWebhookSecret,
  type RecordedRequest,
  startDmsSandbox,
  startWeb1on1Sandbox,
  type Web1on1Sandbox,
} from '@contact-linker/testkit';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { startProductIngress, startProductWorker, stopProcs, WEBHOOK_SECRET } from '../lib/apps.ts';
import type { BenchCase, BenchContext, CaseOutput, Goal } from '../lib/context.ts';
import {
  ORG as BENCH_ORG,
  dmsBody as benchBody,
  dmsId,
  linkUrlFor,
  storedEmail,
} from '../lib/data.ts';
import { memoryUsage, settle, usedMemory } from '../lib/jobs.ts';
import { linkTimes } from '../lib/links.ts';
import { postBulk, postPaced } from '../lib/load.ts';
import { cpuMsOf, freePort, type Proc } from '../lib/procs.ts';
import { percentile } from '../lib/stats.ts';

const RATE_LIMIT = '1000/1s';
/** DMS events per second, as in the e2e case. */
const POST_RATE = 200;
/** Web1on1 contacts created per second in the chatting phase (each also brings the PATCH's update). */
const CREATE_RATE = 100;
const BULK_CHUNK = 500;
const LINK_P99_TARGET_MS = 2000;

const SIZES = {
  full: {
    mixNew: 100,
    mixUnchanged: 700,
    mixChanged: 200,
    seed: 2000,
    seedKnown: 100,
    phoneSeed: 500,
    phoneKnown: 25,
    strangers: 500,
  },
  smoke: {
    mixNew: 5,
    mixUnchanged: 35,
    mixChanged: 10,
    seed: 100,
    seedKnown: 5,
    phoneSeed: 20,
    phoneKnown: 1,
    strangers: 25,
  },
};

/**
 * The organization of this case: a 24-hex id, as Web1on1 organization ids are (the other cases'
 * `org-bench` is 15 characters shorter, and the organization is part of every link-memory key).
 */
const ORG = '64b7f0c2a9e1d35f8c4a2b10';
/** The product's default QUEUE_PREFIX, so every key is as long as in production. */
const PREFIX = '{contact-linker}';

/** The lib's ~300-byte DMS body, in this case's organization. */
function dmsBody(tag: string, i: number): string {
  const body = benchBody(tag, i).replace(
    `"organization":"${BENCH_ORG}"`,
    `"organization":"${ORG}"`,
  );
  if (!body.includes(ORG)) throw new Error('dmsBody: organization not replaced');
  return body;
}

/** Web1on1 contacts that DMS contacts `from`..`to-1` of `tag` find by email (seeding, no webhook). */
function seedContacts(sandbox: Web1on1Sandbox, tag: string, from: number, to: number): string[] {
  const ids: string[] = [];
  for (let i = from; i < to; i++) {
    ids.push(
      sandbox.addContact({
        organization: ORG,
        profile: { email: storedEmail(tag, i), name: `Jane Doe ${i}` },
      }).id,
    );
  }
  return ids;
}

// Tags of the lib's DMS ids and emails (`BENCH-<tag>-<i>`, `jane.doe.<tag>.<i>@example.com`).
const MIX = 'mx';
const SEED = 'sd';
const PHONE_SEED = 'sp';
const STRANGER = 'st';

/** A DMS re-post whose only changes are fields the contract ignores (a name and an address). */
function changedBody(tag: string, i: number): string {
  const body = dmsBody(tag, i)
    .replace('"firstName":"Jane"', '"firstName":"Janet"')
    .replace('"street":"Keizersgracht 123"', '"street":"Herengracht 45"');
  if (body === dmsBody(tag, i)) throw new Error('changedBody: dmsBody no longer has those fields');
  return body;
}

/** A DMS contact with an email and no telephone (the seeding shape; see the header). */
function emailOnlyBody(tag: string, i: number): string {
  const body = dmsBody(tag, i).replace('"telephone":"06 1234 5678",', '');
  if (body.includes('telephone')) throw new Error('emailOnlyBody: telephone still present');
  return body;
}

/** A distinct Dutch mobile number as a DMS sends it (national format). */
const nationalMobile = (base: number, i: number) => `06 ${base + i}`;
/** The same number in E.164, as the worker searches it. */
const e164Mobile = (base: number, i: number) => `+316${base + i}`;

function phoneBody(tag: string, i: number): string {
  const body = dmsBody(tag, i).replace('"06 1234 5678"', `"${nationalMobile(30_000_000, i)}"`);
  if (!body.includes(nationalMobile(30_000_000, i))) throw new Error('phoneBody: no telephone');
  return body;
}

/** Deterministic shuffle (mulberry32), so every run posts in the same order. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Where a chatter's webhook→linked time goes, from BullMQ's own stamps (retention keeps finished
 * jobs): create sent → its contact.created job added by the ingress → that job started → finished
 * (the observer queued the link job) → the link job started → finished. p50/p99 per stage, ms.
 */
async function chatStages(
  linkQueue: Queue,
  notifyQueue: Queue,
  creations: Array<{ kind: string; i: number }>,
  created: Creation[],
) {
  const sentByContact = new Map<string, number>();
  const sentByDmsId = new Map<string, number>();
  creations.forEach(({ kind, i }, k) => {
    const c = created[k]!;
    if (kind !== 'chatter' || c.contactId === undefined) return;
    sentByContact.set(c.contactId, c.sentAt);
    sentByDmsId.set(dmsId(SEED, i), c.sentAt);
  });
  const stage = {
    toIngress: [] as number[],
    notifyWait: [] as number[],
    notifyRun: [] as number[],
    linkWait: [] as number[],
    linkRun: [] as number[],
  };
  for (const job of await notifyQueue.getJobs(['completed'], 0, -1)) {
    const data = job.data as { type?: string; contact?: { id?: string } };
    const sentAt = data.type === 'contact.created' && sentByContact.get(data.contact?.id ?? '');
    if (!sentAt || !job.processedOn || !job.finishedOn) continue;
    stage.toIngress.push(job.timestamp - sentAt);
    stage.notifyWait.push(job.processedOn - job.timestamp);
    stage.notifyRun.push(job.finishedOn - job.processedOn);
  }
  for (const job of await linkQueue.getJobs(['completed'], 0, -1)) {
    const data = job.data as { dmsContactId?: string; webhookMatch?: unknown };
    if (!data.webhookMatch || !sentByDmsId.has(data.dmsContactId ?? '')) continue;
    if (!job.processedOn || !job.finishedOn) continue;
    stage.linkWait.push(job.processedOn - job.timestamp);
    stage.linkRun.push(job.finishedOn - job.processedOn);
  }
  return Object.fromEntries(
    Object.entries(stage).map(([name, ms]) => [
      name,
      { n: ms.length, p50: percentile(ms, 50), p99: percentile(ms, 99) },
    ]),
  );
}

interface Creation {
  sentAt: number;
  status: number;
  contactId?: string;
}

/**
 * Creates one Web1on1 contact per body over the sandbox's HTTP control (so it sends the webhook), at
 * `ratePerS`, open loop.
 */
async function createPaced(url: string, ratePerS: number, bodies: string[]): Promise<Creation[]> {
  const intervalMs = 1000 / ratePerS;
  const out: Creation[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; i < bodies.length; i++) {
    const due = start + i * intervalMs;
    for (let now = performance.now(); now < due; now = performance.now()) {
      await sleep(Math.min(due - now, 5));
    }
    const creation: Creation = { sentAt: Date.now(), status: 0 };
    out.push(creation);
    pending.push(
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bodies[i],
        signal: AbortSignal.timeout(10_000),
      }).then(
        async (res) => {
          creation.status = res.status;
          creation.contactId = ((await res.json()) as { id?: string }).id;
        },
        () => {},
      ),
    );
  }
  await Promise.all(pending);
  return out;
}

/** Who a Web1on1 request is about: by the email or phone it searches, or the contact it reads/writes. */
class Attribution {
  private readonly byKey = new Map<string, string>();

  email(email: string, group: string) {
    this.byKey.set(`e:${email}`, group);
  }

  phone(phone: string, group: string) {
    this.byKey.set(`p:${phone}`, group);
    // A bare `+` in a query string arrives as a space.
    if (phone.startsWith('+')) this.byKey.set(`p: ${phone.slice(1)}`, group);
  }

  contact(id: string, group: string) {
    this.byKey.set(`c:${id}`, group);
  }

  of(request: RecordedRequest): string {
    if (request.path === '/v2/contacts') {
      const email = request.query['profile.email'];
      const phone = request.query['profile.telephone'];
      if (email !== undefined) return this.byKey.get(`e:${email}`) ?? 'other';
      if (phone !== undefined) return this.byKey.get(`p:${phone}`) ?? 'other';
      return 'other';
    }
    const id = /^\/v2\/contacts\/([^/]+)$/.exec(request.path)?.[1];
    return (id && this.byKey.get(`c:${id}`)) || 'other';
  }

  /** Requests per group among `requests`. */
  count(requests: RecordedRequest[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of requests) {
      const group = this.of(r);
      counts[group] = (counts[group] ?? 0) + 1;
    }
    return counts;
  }
}

const apiRequests = (sandbox: Web1on1Sandbox, from: number) =>
  sandbox.requests.slice(from).filter((r) => r.path.startsWith('/v2/'));

async function scanKeys(conn: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of conn.scanStream({ match: pattern, count: 1000 })) {
    keys.push(...(batch as string[]));
  }
  return keys;
}

/** `MEMORY USAGE` of a hash divided by its fields: one entry's share of it. */
async function shareOf(conn: Redis, key: string): Promise<number> {
  const [bytes, fields] = await Promise.all([memoryUsage(conn, key), conn.hlen(key)]);
  return fields > 0 ? bytes / fields : 0;
}

/**
 * Bytes per remembered link: its share (bytes ÷ fields) of the organization's `links` hash (one
 * field per DMS contact) plus its share of the `linked` hash (one field per Web1on1 contact).
 */
async function linkMemoryBytes(conn: Redis, prefix: string) {
  const links = await conn.hlen(`${prefix}:links:${ORG}`);
  const entryBytes = await shareOf(conn, `${prefix}:links:${ORG}`);
  const reverseBytes = await shareOf(conn, `${prefix}:linked:${ORG}`);
  return { links, entryBytes, reverseBytes, perLink: entryBytes + reverseBytes };
}

/**
 * Bytes per waiting DMS contact, by shape: its share of the `waiting` hash, plus its share of the
 * `waiting-email` hash and, with a phone, of the `waiting-phone` hash.
 */
async function waitingBytes(conn: Redis, prefix: string) {
  const waiting = await conn.hlen(`${prefix}:waiting:${ORG}`);
  const entry = await shareOf(conn, `${prefix}:waiting:${ORG}`);
  const emailIndex = await shareOf(conn, `${prefix}:waiting-email:${ORG}`);
  const phoneIndex = await shareOf(conn, `${prefix}:waiting-phone:${ORG}`);
  const phones = await conn.hlen(`${prefix}:waiting-phone:${ORG}`);
  return {
    waiting,
    emailOnly: { count: waiting - phones, total: entry + emailIndex, entry, emailIndex },
    emailPhone: {
      count: phones,
      total: entry + emailIndex + phoneIndex,
      entry,
      emailIndex,
      phoneIndex,
    },
  };
}

/** `used_memory` drop when every key matching `patterns` is deleted. */
async function dropOnDelete(conn: Redis, patterns: string[]) {
  const keys = (await Promise.all(patterns.map((p) => scanKeys(conn, p)))).flat();
  const before = await usedMemory(conn);
  for (let i = 0; i < keys.length; i += 1000) await conn.del(...keys.slice(i, i + 1000));
  const after = await usedMemory(conn);
  return before - after;
}

export const economyCase: BenchCase = async (ctx): Promise<CaseOutput> => {
  const size = ctx.smoke ? SIZES.smoke : SIZES.full;
  const settleMs = ctx.smoke ? 20_000 : 60_000;
  const prefix = PREFIX;
  const record: Record<string, number> = {};
  const details: Record<string, unknown> = {};
  const procs: Proc[] = [];
  let sandbox: Web1on1Sandbox | undefined;
  let dms: DmsSandbox | undefined;
  const linkQueue = new Queue(QUEUE.linkContact, { connection: ctx.conn, prefix });
  const notifyQueue = new Queue(QUEUE.notifyDms, { connection: ctx.conn, prefix });
  const queues = [linkQueue, notifyQueue];

  try {
    await ctx.flush();
    const dmsSecret = makeWebhookSecret();
    dms = await startDmsSandbox({ secret: dmsSecret });
    // The sandbox's webhook target is the ingress, which needs a port before either starts.
    const ingressPort = await freePort();
    sandbox = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `http://127.0.0.1:${ingressPort}/webhook`, secret: WEBHOOK_SECRET },
    });
    const own: BenchContext = { ...ctx, sandbox };
    const [ingress, worker] = await Promise.all([
      startProductIngress(ctx, { label: 'economy-ingress', prefix, port: ingressPort }),
      startProductWorker(own, {
        label: 'economy-worker',
        prefix,
        rateLimit: RATE_LIMIT,
        env: { DMS_NOTIFY_URL: dms.url, DMS_NOTIFY_SECRET: dmsSecret },
      }),
    ]);
    procs.push(ingress.proc, worker.proc);
    const who = new Attribution();
    const allLinked = (tag: string, from: number, to: number) => () => {
      const times = linkTimes(sandbox!);
      for (let i = from; i < to; i++) if (!times.has(linkUrlFor(dmsId(tag, i)))) return false;
      return true;
    };

    // 1. Mix: warm-up, then the measured 1000 events.
    const reposted = size.mixUnchanged + size.mixChanged;
    const mixTotal = reposted + size.mixNew;
    const mixContacts = seedContacts(sandbox, MIX, 0, mixTotal);
    for (let i = 0; i < mixTotal; i++) {
      const group = i < size.mixUnchanged ? 'unchanged' : i < reposted ? 'changed' : 'new';
      who.email(storedEmail(MIX, i), group);
      who.contact(mixContacts[i]!, group);
    }
    const updateUrl = `${ingress.url}/updatecontact`;
    const warm = await postPaced({
      url: updateUrl,
      ratePerS: POST_RATE,
      durationS: reposted / POST_RATE,
      body: (i) => dmsBody(MIX, i),
    });
    const warmSettled = await settle(queues, {
      done: allLinked(MIX, 0, reposted),
      timeoutMs: settleMs,
    });
    if (!warmSettled) ctx.log('  warm-up did not settle in time; measuring anyway');
    ctx.log(`  mix warm-up: ${warm.filter((p) => p.status === 202).length} posted and linked`);

    const order = shuffled(
      Array.from({ length: mixTotal }, (_, i) => i),
      1,
    );
    const mixFrom = sandbox.requests.length;
    const mixPosts = await postPaced({
      url: updateUrl,
      ratePerS: POST_RATE,
      durationS: mixTotal / POST_RATE,
      body: (k) => {
        const i = order[k]!;
        return i >= size.mixUnchanged && i < reposted ? changedBody(MIX, i) : dmsBody(MIX, i);
      },
    });
    const mixSettled = await settle(queues, {
      done: allLinked(MIX, reposted, mixTotal),
      timeoutMs: settleMs,
    });
    const mixRequests = apiRequests(sandbox, mixFrom);
    const mixBy = who.count(mixRequests);
    record.mix_events = mixPosts.length;
    record.mix_rejected = mixPosts.filter((p) => p.status !== 202).length;
    record.mix_requests = mixRequests.length;
    record.mix_req_per_event = mixRequests.length / mixPosts.length;
    record.mix_req_per_unchanged = (mixBy.unchanged ?? 0) / size.mixUnchanged;
    record.mix_req_per_changed = (mixBy.changed ?? 0) / size.mixChanged;
    record.mix_req_per_new = (mixBy.new ?? 0) / size.mixNew;
    details.mixRequestsByGroup = mixBy;
    ctx.log(
      `  mix: ${mixRequests.length} Web1on1 requests for ${mixPosts.length} events (${JSON.stringify(mixBy)})${mixSettled ? '' : ' — did not settle in time'}`,
    );

    // 2. Seeding: email-only items, then (info) items with a phone too.
    const bulkUrl = `${ingress.url}/updatecontacts`;
    const seedKnownIds = seedContacts(sandbox, SEED, 0, size.seedKnown);
    for (let i = 0; i < size.seed; i++) {
      const group = i < size.seedKnown ? 'seed-known' : 'chatter';
      who.email(storedEmail(SEED, i), group);
      if (i < size.seedKnown) who.contact(seedKnownIds[i]!, group);
    }
    const seedFrom = sandbox.requests.length;
    const seedAccepted = await postBulk(
      bulkUrl,
      Array.from({ length: size.seed }, (_, i) => emailOnlyBody(SEED, i)),
      BULK_CHUNK,
    );
    const seedSettled = await settle(queues, {
      done: allLinked(SEED, 0, size.seedKnown),
      timeoutMs: settleMs,
    });
    const seedRequests = apiRequests(sandbox, seedFrom);
    record.seed_accepted = seedAccepted;
    record.seed_requests = seedRequests.length;
    record.seed_req_per_contact = seedRequests.length / size.seed;
    details.seedRequestsByGroup = who.count(seedRequests);
    ctx.log(
      `  seeding: ${seedRequests.length} Web1on1 requests for ${size.seed} bulk items (${seedAccepted} accepted; ${JSON.stringify(details.seedRequestsByGroup)})${seedSettled ? '' : ' — did not settle in time'}`,
    );

    const phoneKnownIds = seedContacts(sandbox, PHONE_SEED, 0, size.phoneKnown);
    for (let i = 0; i < size.phoneSeed; i++) {
      const group = i < size.phoneKnown ? 'phone-seed-known' : 'phone-seed';
      who.email(storedEmail(PHONE_SEED, i), group);
      who.phone(nationalMobile(30_000_000, i), group);
      who.phone(e164Mobile(30_000_000, i), group);
      if (i < size.phoneKnown) who.contact(phoneKnownIds[i]!, group);
    }
    const phoneFrom = sandbox.requests.length;
    await postBulk(
      bulkUrl,
      Array.from({ length: size.phoneSeed }, (_, i) => phoneBody(PHONE_SEED, i)),
      BULK_CHUNK,
    );
    await settle(queues, {
      done: allLinked(PHONE_SEED, 0, size.phoneKnown),
      timeoutMs: settleMs,
    });
    const phoneRequests = apiRequests(sandbox, phoneFrom);
    record.phone_seed_req_per_contact = phoneRequests.length / size.phoneSeed;
    details.phoneSeedRequestsByGroup = who.count(phoneRequests);
    ctx.log(
      `  seeding with phones (info): ${phoneRequests.length} Web1on1 requests for ${size.phoneSeed} bulk items`,
    );

    // 3a. Waiting contacts in Redis, while both shapes wait.
    const waitingMem = await waitingBytes(ctx.conn, prefix);
    record.waiting_after_seeding = waitingMem.waiting;
    record.bytes_per_waiting_email = waitingMem.emailOnly.total;
    record.bytes_per_waiting_email_phone = waitingMem.emailPhone.total;
    details.waitingMemory = waitingMem;

    // 2b. The unfound seeded contacts start chatting, among strangers.
    const chatters = Array.from({ length: size.seed - size.seedKnown }, (_, k) => ({
      kind: 'chatter' as const,
      i: size.seedKnown + k,
    }));
    const strangers = Array.from({ length: size.strangers }, (_, i) => ({
      kind: 'stranger' as const,
      i,
    }));
    for (const { i } of strangers) {
      who.email(storedEmail(STRANGER, i), 'stranger');
      who.phone(nationalMobile(40_000_000, i), 'stranger');
      who.phone(e164Mobile(40_000_000, i), 'stranger');
    }
    const creations = shuffled([...chatters, ...strangers], 2);
    const bodies = creations.map(({ kind, i }) =>
      JSON.stringify({
        organization: ORG,
        profile:
          kind === 'chatter'
            ? { email: storedEmail(SEED, i), name: `Jane Doe ${i}` }
            : {
                email: storedEmail(STRANGER, i),
                telephone: nationalMobile(40_000_000, i),
                name: `Stranger ${i}`,
              },
      }),
    );
    const chatFrom = sandbox.requests.length;
    // CPU of every process involved while the chatting phase runs: which one sets the latency.
    const cpuPids = { worker: worker.proc.pid, ingress: ingress.proc.pid, redis: ctx.redisPid };
    const cpu0 = Object.fromEntries(Object.entries(cpuPids).map(([k, pid]) => [k, cpuMsOf(pid)]));
    const bench0 = process.cpuUsage();
    const wall0 = performance.now();
    const created = await createPaced(`${sandbox.url}/_sandbox/contacts`, CREATE_RATE, bodies);
    const chatSettled = await settle(queues, {
      done: allLinked(SEED, size.seedKnown, size.seed),
      timeoutMs: settleMs,
    });
    const wallMs = performance.now() - wall0;
    for (const [k, pid] of Object.entries(cpuPids)) {
      record[`chat_cpu_pct_${k}`] = ((cpuMsOf(pid) - cpu0[k]!) / wallMs) * 100;
    }
    const bench = process.cpuUsage(bench0);
    record.chat_cpu_pct_bench = ((bench.user + bench.system) / 1000 / wallMs) * 100;
    created.forEach((c, k) => {
      const { kind } = creations[k]!;
      if (c.contactId) who.contact(c.contactId, kind);
    });
    const chatRequests = apiRequests(sandbox, chatFrom);
    const chatBy = who.count(chatRequests);
    const times = linkTimes(sandbox);
    const latencies: number[] = [];
    // Latencies per second of sending, to tell a backlog building up from a uniform delay.
    const bySecond: number[][] = [];
    let notLinked = 0;
    creations.forEach(({ kind, i }, k) => {
      if (kind !== 'chatter') return;
      const at = times.get(linkUrlFor(dmsId(SEED, i)));
      if (at === undefined) {
        notLinked += 1;
        return;
      }
      const latency = at - created[k]!.sentAt;
      latencies.push(latency);
      const second = Math.floor((created[k]!.sentAt - created[0]!.sentAt) / 1000);
      bySecond[second] = [...(bySecond[second] ?? []), latency];
    });
    details.linkLatencyPerSecondOfSending = bySecond.map((l, second) => ({
      second,
      p50: percentile(l ?? [], 50),
      p99: percentile(l ?? [], 99),
    }));
    const linksMade = chatters.length - notLinked;
    const stages = await chatStages(linkQueue, notifyQueue, creations, created);
    details.chatStagesMs = stages;
    const sendSpanS = (created.at(-1)!.sentAt - created[0]!.sentAt) / 1000;
    record.create_rate = (created.length - 1) / sendSpanS;
    record.create_failed = created.filter((c) => c.status !== 201).length;
    record.link_p50_ms = percentile(latencies, 50);
    record.link_p99_ms = percentile(latencies, 99);
    record.link_max_ms = Math.max(...latencies);
    record.chatters_not_linked = notLinked;
    record.chat_requests = chatRequests.length;
    record.chat_req_per_link = chatRequests.length / linksMade;
    record.stranger_requests = chatBy.stranger ?? 0;
    details.chatRequestsByGroup = chatBy;
    ctx.log(
      `  chatting: ${linksMade}/${chatters.length} linked, webhook→linked p50 ${record.link_p50_ms} ms, p99 ${record.link_p99_ms} ms, max ${record.link_max_ms} ms; ${chatRequests.length} Web1on1 requests (${JSON.stringify(chatBy)}) at ${record.create_rate.toFixed(0)} creations/s${chatSettled ? '' : ' — did not settle in time'}`,
    );

    // 3b. Remembered links (every link of the run), then the used_memory cross-check.
    const linkMem = await linkMemoryBytes(ctx.conn, prefix);
    record.links_remembered = linkMem.links;
    record.bytes_per_link = linkMem.perLink;
    details.linkMemory = linkMem;
    const outcomes: Record<string, number> = {};
    for (const job of await linkQueue.getJobs(['completed'], 0, -1)) {
      const outcome = (job.returnvalue as { outcome?: string } | null)?.outcome ?? 'unknown';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    outcomes.failed = (await linkQueue.getJobCounts('failed')).failed ?? 0;
    details.linkContactOutcomes = outcomes;
    details.dmsDeliveries = dms.deliveries.length;

    await stopProcs(ctx, procs.splice(0));
    const waitingLeft = await ctx.conn.hlen(`${prefix}:waiting:${ORG}`);
    const waitingDrop = await dropOnDelete(ctx.conn, [
      `${prefix}:waiting:*`,
      `${prefix}:waiting-email:*`,
      `${prefix}:waiting-phone:*`,
    ]);
    const linkDrop = await dropOnDelete(ctx.conn, [`${prefix}:links:*`, `${prefix}:linked:*`]);
    record.waiting_left = waitingLeft;
    record.used_memory_per_waiting = waitingLeft > 0 ? waitingDrop / waitingLeft : Number.NaN;
    record.used_memory_per_link = linkDrop / linkMem.links;
    ctx.log(
      `  Redis: ${linkMem.perLink.toFixed(0)} B per remembered link (${linkMem.links}), ${waitingMem.emailOnly.total.toFixed(0)} B per waiting contact with an email (${waitingMem.emailOnly.count}), ${waitingMem.emailPhone.total.toFixed(0)} B with email and phone (${waitingMem.emailPhone.count}); used_memory drop ${record.used_memory_per_link.toFixed(0)} B/link, ${record.used_memory_per_waiting.toFixed(0)} B per waiting contact (${waitingLeft}, email and phone)`,
    );
  } finally {
    await stopProcs(ctx, procs);
    await linkQueue.close();
    await notifyQueue.close();
    await sandbox?.close();
    await dms?.close();
    await ctx.flush();
  }

  const r = record;
  const seedEvents = `${size.seed} bulk items, ${size.seedKnown} of them in Web1on1`;
  const goals: Goal[] = [
    {
      name: 'economy-mix',
      figure: `${r.mix_req_per_event!.toFixed(3)} Web1on1 requests per DMS event (${r.mix_requests} for ${r.mix_events}: ${size.mixNew} new, ${size.mixUnchanged} unchanged, ${size.mixChanged} with ignored fields changed${r.mix_rejected ? `; ${r.mix_rejected} not accepted` : ''})`,
      target: '≤ 0.25',
      pass: r.mix_req_per_event! <= 0.25 && r.mix_rejected === 0,
    },
    {
      name: 'economy-seed',
      figure: `${r.seed_req_per_contact!.toFixed(3)} Web1on1 requests per seeded contact (${r.seed_requests} for ${seedEvents}; email, no phone)`,
      target: '≤ 1.2',
      pass: r.seed_req_per_contact! <= 1.2 && r.seed_accepted === size.seed,
    },
    {
      name: 'economy-webhook-link',
      figure: `webhook→linked p99 ${r.link_p99_ms!.toFixed(0)} ms for ${size.seed - size.seedKnown} waiting contacts among ${size.strangers} strangers at ${CREATE_RATE} creations/s${r.chatters_not_linked ? `; ${r.chatters_not_linked} not linked` : ''}`,
      target: `≤ ${LINK_P99_TARGET_MS} ms, all linked`,
      pass: r.link_p99_ms! <= LINK_P99_TARGET_MS && r.chatters_not_linked === 0,
    },
    {
      name: 'economy-webhook-requests',
      figure: `${r.chat_req_per_link!.toFixed(3)} Web1on1 requests per link (${r.chat_requests} in the chatting phase)`,
      target: '≤ 2',
      pass: r.chat_req_per_link! <= 2,
    },
    {
      name: 'economy-strangers',
      figure: `${r.stranger_requests} Web1on1 requests for ${size.strangers} strangers' webhooks`,
      target: '0',
      pass: r.stranger_requests === 0,
    },
    {
      name: 'economy-redis-link',
      figure: `${r.bytes_per_link!.toFixed(0)} B per remembered link (MEMORY USAGE, ${r.links_remembered} links)`,
      target: '≤ 300 B',
      pass: r.bytes_per_link! <= 300,
    },
    {
      name: 'economy-redis-waiting',
      figure: `${r.bytes_per_waiting_email_phone!.toFixed(0)} B per waiting contact with email and phone, ${r.bytes_per_waiting_email!.toFixed(0)} B with an email only (MEMORY USAGE, ${r.waiting_after_seeding} waiting)`,
      target: '≤ 300 B each',
      pass: r.bytes_per_waiting_email_phone! <= 300 && r.bytes_per_waiting_email! <= 300,
    },
  ];
  const lm = details.linkMemory as Awaited<ReturnType<typeof linkMemoryBytes>> | undefined;
  const wm = details.waitingMemory as Awaited<ReturnType<typeof waitingBytes>> | undefined;
  const b = (x: number | undefined) => (x === undefined ? 'n/a' : x.toFixed(0));
  const st = details.chatStagesMs as
    | Record<string, { n: number; p50: number; p99: number }>
    | undefined;
  const stagesNote = `Chatting stages (BullMQ stamps, p50/p99 ms): create sent → contact.created job added ${st?.toIngress?.p50}/${st?.toIngress?.p99}, → started ${st?.notifyWait?.p50}/${st?.notifyWait?.p99}, run (observe, queue the link job, DMS delivery) ${st?.notifyRun?.p50}/${st?.notifyRun?.p99}; link job waited ${st?.linkWait?.p50}/${st?.linkWait?.p99}, ran (list + PATCH) ${st?.linkRun?.p50}/${st?.linkRun?.p99}. Per second of sending: see details.linkLatencyPerSecondOfSending in the JSON.`;
  const breakdown =
    `Where the bytes go (MEMORY USAGE per entry): a link = its share of the links hash ${b(lm?.entryBytes)} B + its share of the linked hash ${b(lm?.reverseBytes)} B; ` +
    `a waiting contact with email and phone = waiting string ${b(wm?.emailPhone.entry)} B + waiting-email share ${b(wm?.emailPhone.emailIndex)} B + waiting-phone share ${b(wm?.emailPhone.phoneIndex)} B; ` +
    `with an email only = ${b(wm?.emailOnly.entry)} B + ${b(wm?.emailOnly.emailIndex)} B. Keys as in production: prefix ${PREFIX} (the default), a 24-hex organization, DMS ids like BENCH-sd-1234.`;
  const row = (metric: string, unit: string, product: string) => ({ metric, unit, product });
  return {
    name: 'economy',
    runs: [record],
    rows: [
      row('mix: Web1on1 requests per DMS event', 'req/event', 'mix_req_per_event'),
      row('mix: per new contact (info)', 'req/event', 'mix_req_per_new'),
      row('mix: per unchanged re-post (info)', 'req/event', 'mix_req_per_unchanged'),
      row('mix: per re-post, ignored fields changed (info)', 'req/event', 'mix_req_per_changed'),
      row('seeding: requests per seeded contact (email)', 'req', 'seed_req_per_contact'),
      row('seeding: email + national phone (info)', 'req', 'phone_seed_req_per_contact'),
      row('chatting: webhook→linked p50', 'ms', 'link_p50_ms'),
      row('chatting: webhook→linked p99', 'ms', 'link_p99_ms'),
      row('chatting: webhook→linked max', 'ms', 'link_max_ms'),
      row('chatting: Web1on1 requests per link', 'req', 'chat_req_per_link'),
      row("chatting: requests for strangers' webhooks", 'req', 'stranger_requests'),
      row('chatting: waiting contacts not linked', 'contacts', 'chatters_not_linked'),
      row('chatting: achieved creation rate', 'contacts/s', 'create_rate'),
      row('chatting: worker CPU (info)', '% core', 'chat_cpu_pct_worker'),
      row('chatting: ingress CPU (info)', '% core', 'chat_cpu_pct_ingress'),
      row('chatting: redis-server CPU (info)', '% core', 'chat_cpu_pct_redis'),
      row('chatting: bench process (sandboxes, load) CPU (info)', '% core', 'chat_cpu_pct_bench'),
      row('Redis per remembered link (MEMORY USAGE)', 'B', 'bytes_per_link'),
      row('Redis per waiting contact, email (MEMORY USAGE)', 'B', 'bytes_per_waiting_email'),
      row(
        'Redis per waiting contact, email + phone (MEMORY USAGE)',
        'B',
        'bytes_per_waiting_email_phone',
      ),
      row('used_memory drop per link on DEL (info)', 'B', 'used_memory_per_link'),
      row('used_memory drop per waiting contact on DEL (info)', 'B', 'used_memory_per_waiting'),
    ],
    goals,
    details,
    notes: [
      `1 ingress + 1 worker (concurrency 16, WEB1ON1_RATE_LIMIT=${RATE_LIMIT}, NOT_FOUND_ATTEMPTS 3, DMS_NOTIFY_URL → DMS sandbox); the case's own Web1on1 sandbox (0 ms) sends signed contact.create/update webhooks to the ingress for contacts created over HTTP and for every PATCH. Requests = the sandbox's /v2/* log. One run.`,
      `Mix: ${size.mixUnchanged + size.mixChanged} DMS contacts posted and linked first (warm-up, not counted), then ${size.mixNew + size.mixUnchanged + size.mixChanged} events shuffled at ${POST_RATE}/s; the ${size.mixNew} new ones exist in Web1on1. Requests by group: ${JSON.stringify(details.mixRequestsByGroup ?? {})}.`,
      `Seeding: POST /updatecontacts, ${BULK_CHUNK} items per request; items carry an email and no telephone (a phone adds up to two searches when nobody is found: E.164, then as sent; see the info row, ${size.phoneSeed} items with email + "06 3xxxxxxx", ${size.phoneKnown} known). By group: ${JSON.stringify(details.seedRequestsByGroup ?? {})}; with phones ${JSON.stringify(details.phoneSeedRequestsByGroup ?? {})}.`,
      `Chatting: ${size.seed - size.seedKnown} waiting contacts and ${size.strangers} strangers (email + phone nobody waits for) created in the sandbox over HTTP, shuffled, ${CREATE_RATE}/s; latency = the PATCH carrying the link answered (sandbox endedAt) − just before the create request left the bench. Requests by group: ${JSON.stringify(details.chatRequestsByGroup ?? {})}.`,
      `Redis: an entry's share (MEMORY USAGE SAMPLES 0 ÷ fields) of its organization's links and linked hashes; of waiting, waiting-email (and waiting-phone); waiting contacts read right after seeding. used_memory drop = INFO used_memory before − after deleting those keys once the processes stopped. link-contact outcomes over the run: ${JSON.stringify(details.linkContactOutcomes ?? {})}.`,
      stagesNote,
      breakdown,
    ],
  };
};
