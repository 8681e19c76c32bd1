/**
 * Link memory and waiting DMS contacts under worker SIGKILLs. One worker process at a time
 * (NOT_FOUND_ATTEMPTS=1, so a DMS event that finds nobody waits after one lookup); each scenario
 * kills it at a chosen point and starts a new one, which takes the orphaned jobs over once their
 * 15 s locks lapse (its stalled check runs every 5 s), so each recovery takes up to ~20 s by design.
 *
 * 1. Between the PATCH and the memory write: the Web1on1 sandbox applies each PATCH and holds its
 *    answer (`hangNext` with `afterApply`), and the worker dies while every PATCH is held. The jobs
 *    that sent them never got past the PATCH, so none of them remembered anything. The re-run finds
 *    the link on the contact (`already_linked`, no second PATCH) and remembers it: the same DMS events
 *    posted again complete `already_linked` without a single Web1on1 request.
 * 2. During a webhook match, while the link job of a waiting DMS contact has its PATCH held: the
 *    re-run finds the link, remembers it, and `contact.linked` (which the killed run never queued)
 *    reaches the DMS.
 * 3. During a webhook match, right after the webhook's notify-dms job queued the link job: that
 *    notify-dms job is stuck delivering `contact.created` to the DMS and the link job is stuck in its
 *    search. Both run again; the notify-dms job observes the contact a second time, which must not
 *    link it twice.
 * 4. A Redis restart (AOF) under the running processes keeps both: a remembered link still answers a
 *    re-post without any Web1on1 request, and a waiting DMS contact is still linked from its webhook.
 *
 * Invariant (`checkInvariants`), every scenario: every link-contact job (the webhook-made ones
 * included) and every notify-dms job completed, none dead-lettered, each contact carries its link
 * exactly once and no other, the DMS accepted a verified `contact.linked` for it, and no echo of a
 * link reached the DMS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LinkContactJob, NotifyDmsJob } from '@contact-linker/contracts';
import { QUEUE } from '@contact-linker/queues';
import { type AppProcess, type SandboxContact, waitFor } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import {
  expectedLinks,
  type FaultSystem,
  ORG,
  report,
  systemForSuite,
  whenSeen,
} from './system.ts';

/** Contacts whose PATCH is held when the worker dies in scenario 1. */
const HELD = 4;
/** The bound on one scenario, start to invariant. */
const SCENARIO_MS = 40_000;

interface JobView {
  state?: string;
  outcome?: string;
  result?: { contactId: string; conversation: string | null };
}

describe('fault: link memory and waiting contacts when the worker is SIGKILLed', () => {
  const running = systemForSuite({
    workers: 1,
    // AOF, as the compose file runs Redis, for scenario 4.
    redis: { appendonly: true, appendfsync: 'always' },
    workerEnv: { NOT_FOUND_ATTEMPTS: '1', WEB1ON1_RATE_LIMIT: '1000/1s' },
  });
  let current: AppProcess | undefined;

  const sandboxOf = (sys: FaultSystem) => {
    const sandbox = sys.web1on1.inProcess;
    if (!sandbox) throw new Error('these scenarios drive the in-process sandbox');
    return sandbox;
  };

  /** SIGKILLs the running worker, checks it died of it, and starts its replacement. */
  async function killWorker(sys: FaultSystem): Promise<number> {
    const worker = current ?? sys.workers[0];
    if (!worker) throw new Error('no worker running');
    process.kill(worker.pid, 'SIGKILL');
    const killedAt = performance.now();
    expect((await worker.exited).signal).toBe('SIGKILL');
    return killedAt;
  }

  async function settled(sys: FaultSystem, jobId: string, timeoutMs = 10_000): Promise<JobView> {
    return waitFor(
      async () => {
        const view = (await sys.jobStatus(jobId)).body as JobView;
        return view.state === 'completed' || view.state === 'dead-lettered' ? view : undefined;
      },
      { timeoutMs, intervalMs: 50, message: `job ${jobId} settled` },
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\n${sys.logs()}`, { cause: error });
    });
  }

  /** Every link-contact job in the queue: the accepted events' and the ones webhooks queued. */
  const allLinkJobs = async (sys: FaultSystem) => await sys.allJobs(QUEUE.linkContact);

  /** The link-contact jobs a webhook match queued for `dmsId`. */
  const matchJobs = async (sys: FaultSystem, dmsId: string) =>
    (await allLinkJobs(sys)).filter((j) => {
      const data = j.data as LinkContactJob;
      return data.dmsContactId === dmsId && data.webhookMatch !== undefined;
    });

  /** A DMS event that finds nobody completes `not_found` after its one lookup, and waits. */
  async function waitingDmsContact(sys: FaultSystem, dmsId: string, email: string) {
    const [jobId] = await sys.postAll([{ id: dmsId, organization: ORG, email }]);
    if (!jobId) throw new Error('event not accepted');
    expect(await settled(sys, jobId)).toMatchObject({ state: 'completed', outcome: 'not_found' });
    return jobId;
  }

  /** Creates the contact over HTTP, so the sandbox posts its signed `contact.create` to the ingress. */
  async function createOverHttp(sys: FaultSystem, email: string): Promise<SandboxContact> {
    const res = await fetch(`${sys.web1on1.url}/_sandbox/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ organization: ORG, profile: { email, name: email.split('@')[0] } }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as SandboxContact;
  }

  const contactLinked = (sys: FaultSystem, contactId: string, dmsId: string) =>
    sys.dms.accepted().filter((d) => {
      const body = d.body as {
        type?: string;
        data?: { contactId?: string; dmsContactId?: string };
      };
      return (
        body?.type === 'contact.linked' &&
        body.data?.contactId === contactId &&
        body.data?.dmsContactId === dmsId
      );
    });

  it(
    'between the PATCH and the memory write: the re-run finds the link, remembers it, adds none',
    async () => {
      const sys = running();
      const sandbox = sandboxOf(sys);
      const started = performance.now();
      const seeded = await sys.seedContacts(HELD, 'held');
      const ids = new Set(seeded.map((s) => s.contact.id));
      const patches = () =>
        sandbox.requests.filter(
          (r) => r.method === 'PATCH' && ids.has(r.path.split('/').pop() ?? ''),
        );
      const linked = (id: string) => (sandbox.getContact(id)?.links.length ?? 0) > 0;
      sandbox.hangNext(HELD, { method: 'PATCH', afterApply: true });
      const jobIds = await sys.postAll(seeded.map((s) => s.event));

      // Every PATCH stored on its contact and none answered: no job got past its PATCH, so none
      // reached remember().
      await whenSeen(() => patches().length === HELD && [...ids].every(linked), {
        timeoutMs: 10_000,
        message: `${HELD} PATCHes applied and held`,
      });
      const killedAt = await killWorker(sys);
      expect(patches().map((r) => r.status)).toEqual(seeded.map(() => 0));
      const states = await Promise.all(
        jobIds.map((id) => sys.queues[QUEUE.linkContact].getJobState(id)),
      );
      expect(states, 'the killed worker held every job').toEqual(jobIds.map(() => 'active'));

      current = await sys.startWorker();
      await sys.waitDrained(SCENARIO_MS);
      const recoveredMs = performance.now() - killedAt;
      const result = await sys.checkInvariants({ linkJobs: jobIds, links: expectedLinks(seeded) });
      expect(result.linkCompleted).toBe(HELD);
      const reruns = await Promise.all(jobIds.map((id) => settled(sys, id)));
      expect(reruns.map((j) => j.outcome)).toEqual(seeded.map(() => 'already_linked'));
      expect(reruns.map((j) => j.result?.contactId)).toEqual(seeded.map((s) => s.contact.id));
      // The re-runs added nothing: the held PATCHes are still the only ones.
      expect(patches()).toHaveLength(HELD);

      // The memory the re-runs wrote answers the same events with no Web1on1 request at all.
      const requestsBefore = sandbox.requests.length;
      const again = await sys.postAll(seeded.map((s) => s.event));
      const second = await Promise.all(again.map((id) => settled(sys, id)));
      expect(second.map((j) => j.outcome)).toEqual(seeded.map(() => 'already_linked'));
      expect(second.map((j) => j.result?.contactId)).toEqual(seeded.map((s) => s.contact.id));
      await sys.waitDrained(10_000);
      expect(sandbox.requests.slice(requestsBefore)).toEqual([]);
      await sys.checkInvariants({ linkJobs: [...jobIds, ...again], links: expectedLinks(seeded) });
      const tookMs = performance.now() - started;
      expect(tookMs).toBeLessThan(SCENARIO_MS);

      report('link-memory-held-patch', {
        contacts: HELD,
        held_patches: HELD,
        patches_total: patches().length,
        rerun_already_linked: reruns.length,
        repost_requests: sandbox.requests.length - requestsBefore,
        recover_s: (recoveredMs / 1000).toFixed(1),
        scenario_s: (tookMs / 1000).toFixed(1),
      });
    },
    SCENARIO_MS + 20_000,
  );

  it(
    'during a webhook match, its PATCH held: the re-run links once and contact.linked reaches the DMS',
    async () => {
      const sys = running();
      const sandbox = sandboxOf(sys);
      const started = performance.now();
      const dmsId = 'WAIT-HELD-1';
      const email = 'wait-held-1@example.com';
      await waitingDmsContact(sys, dmsId, email);

      sandbox.hangNext(1, { method: 'PATCH', afterApply: true });
      const contact = await createOverHttp(sys, email);
      const patches = () =>
        sandbox.requests.filter((r) => r.method === 'PATCH' && r.path.endsWith(contact.id));
      await whenSeen(
        () => patches().length === 1 && (sandbox.getContact(contact.id)?.links.length ?? 0) > 0,
        { timeoutMs: 10_000, message: "the webhook match's PATCH applied and held" },
      );
      const killedAt = await killWorker(sys);
      expect(patches().map((r) => r.status)).toEqual([0]);
      const [killedJob, ...others] = await matchJobs(sys, dmsId);
      expect(others).toEqual([]);
      expect(await killedJob?.getState()).toBe('active');
      expect(contactLinked(sys, contact.id, dmsId)).toEqual([]);

      current = await sys.startWorker();
      await sys.waitDrained(SCENARIO_MS);
      const recoveredMs = performance.now() - killedAt;
      const linkJobs = (await allLinkJobs(sys)).map((j) => String(j.id));
      await sys.checkInvariants({ linkJobs, links: new Map([[contact.id, [dmsId]]]) });
      const reruns = await matchJobs(sys, dmsId);
      expect(reruns.map((j) => j.returnvalue?.outcome)).toEqual(['already_linked']);
      expect(patches()).toHaveLength(1);
      const [linked] = contactLinked(sys, contact.id, dmsId);
      expect(linked?.verified).toBe(true);
      const tookMs = performance.now() - started;
      expect(tookMs).toBeLessThan(SCENARIO_MS);

      report('link-memory-webhook-held-patch', {
        patches_total: patches().length,
        rerun_outcome: String(reruns[0]?.returnvalue?.outcome),
        contact_linked_accepted: contactLinked(sys, contact.id, dmsId).length,
        recover_s: (recoveredMs / 1000).toFixed(1),
        scenario_s: (tookMs / 1000).toFixed(1),
      });
    },
    SCENARIO_MS + 20_000,
  );

  it(
    "right after the webhook's notify-dms job queued the link job: observing again links once",
    async () => {
      const sys = running();
      const sandbox = sandboxOf(sys);
      const started = performance.now();
      const dmsId = 'WAIT-QUEUED-1';
      const email = 'wait-queued-1@example.com';
      await waitingDmsContact(sys, dmsId, email);

      // The notify-dms job of contact.create queues the link job, then hangs delivering to the
      // DMS; the link job hangs in its one search.
      sys.dms.hangNext(1);
      sandbox.hangNext(1, { method: 'GET' });
      const contact = await createOverHttp(sys, email);
      const createdDelivery = () =>
        sys.dms.deliveries.filter((d) => {
          const body = d.body as { type?: string; data?: { contactId?: string } };
          return body?.type === 'contact.created' && body.data?.contactId === contact.id;
        });
      const searches = () =>
        sandbox.requests.filter(
          (r) => r.method === 'GET' && Object.values(r.query).includes(email),
        );
      await whenSeen(
        () =>
          createdDelivery().some((d) => d.status === 0) && searches().some((r) => r.status === 0),
        { timeoutMs: 10_000, message: 'contact.created delivery and the link search both hanging' },
      );
      const killedAt = await killWorker(sys);
      const atKill = await matchJobs(sys, dmsId);
      expect(atKill).toHaveLength(1);
      expect(await atKill[0]?.getState()).toBe('active');
      const notifyAtKill = (await sys.allJobs(QUEUE.notifyDms)).filter((j) => {
        const data = j.data as NotifyDmsJob;
        return data.type === 'contact.created' && data.contact.id === contact.id;
      });
      expect(await Promise.all(notifyAtKill.map((j) => j.getState()))).toEqual(['active']);
      expect(sandbox.getContact(contact.id)?.links).toEqual([]);

      current = await sys.startWorker();
      await sys.waitDrained(SCENARIO_MS);
      const recoveredMs = performance.now() - killedAt;
      // The re-run of the notify-dms job observes the contact again: at most one more link job.
      await sleep(500);
      const linkJobs = (await allLinkJobs(sys)).map((j) => String(j.id));
      await sys.checkInvariants({ linkJobs, links: new Map([[contact.id, [dmsId]]]) });
      const matches = await matchJobs(sys, dmsId);
      const outcomes = matches.map((j) => j.returnvalue?.outcome).sort();
      expect(outcomes.filter((o) => o === 'linked')).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'linked' && o !== 'already_linked')).toEqual([]);
      const patches = sandbox.requests.filter(
        (r) => r.method === 'PATCH' && r.path.endsWith(contact.id),
      );
      expect(patches.map((r) => r.status)).toEqual([200]);
      expect(contactLinked(sys, contact.id, dmsId)[0]?.verified).toBe(true);
      // contact.created reached the DMS too, on the re-run.
      expect(createdDelivery().filter((d) => d.status === 200 && d.verified)).toHaveLength(1);
      const tookMs = performance.now() - started;
      expect(tookMs).toBeLessThan(SCENARIO_MS);

      report('link-memory-webhook-queued', {
        link_jobs_for_contact: matches.length,
        outcomes: outcomes.join('+'),
        patches_total: patches.length,
        recover_s: (recoveredMs / 1000).toFixed(1),
        scenario_s: (tookMs / 1000).toFixed(1),
      });
    },
    SCENARIO_MS + 20_000,
  );

  it(
    'keeps the link memory and the waiting contacts across a Redis restart',
    async () => {
      const sys = running();
      const started = performance.now();
      const [linked] = await sys.seedContacts(1, 'restart');
      if (!linked) throw new Error('no contact seeded');
      const [jobId] = await sys.postAll([linked.event]);
      expect(await settled(sys, jobId ?? '')).toMatchObject({ outcome: 'linked' });
      const waitingJob = await waitingDmsContact(sys, 'RESTART-WAIT', 'restart-wait@example.com');

      await sys.redis.stop();
      await sys.redis.start();

      const before = (await sys.apiRequests()).length;
      const [again] = await waitFor(async () => {
        const ids = await sys.postAll([linked.event]).catch(() => []);
        return ids.length === 1 ? ids : undefined;
      });
      expect(await settled(sys, again ?? '')).toMatchObject({
        outcome: 'already_linked',
        result: { contactId: linked.contact.id },
      });
      expect((await sys.apiRequests()).length).toBe(before);

      const contact = await createOverHttp(sys, 'restart-wait@example.com');
      await waitFor(() => contactLinked(sys, contact.id, 'RESTART-WAIT').length > 0, {
        timeoutMs: 10_000,
        message: 'the waiting contact linked after the restart',
      });
      await sys.waitDrained(10_000);
      const links = new Map([
        [linked.contact.id, [linked.dmsId]],
        [contact.id, ['RESTART-WAIT']],
      ]);
      await sys.checkInvariants({ linkJobs: [jobId ?? '', again ?? '', waitingJob], links });
      report('link-memory-redis-restart', {
        scenario_s: ((performance.now() - started) / 1000).toFixed(1),
      });
    },
    SCENARIO_MS,
  );
});
