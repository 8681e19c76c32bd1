/**
 * DMS outage: the DMS answers every notification with 500 for 4 s and then recovers. Meanwhile 20
 * signed Web1on1 `contact.update` webhooks (20 contacts, 20 event ids) reach the ingress, and 10 DMS
 * events get linked, each of which sends a `contact.linked` notification into the same outage.
 *
 * Invariant: grouped by `webhook-id`, every notification the DMS saw was tried under one id with the
 * very same signed body each time (so the DMS can drop copies), every try verified, and every group
 * ends with exactly one 2xx, its last try. Every webhook answered `queued` and every event answered
 * 202 ends completed (none dead-lettered), each link once. The DMS sees exactly the 20 updates and
 * the 10 `contact.linked` notifications: Web1on1's own `contact.update` echo of each link is not
 * forwarded (a forwarded echo shows up as an extra group, often one that never ends 2xx).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { QUEUE } from '@contact-linker/queues';
import type { DmsDelivery } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { expectedLinks, mapLimit, objectId, report, systemForSuite } from './system.ts';

const WEBHOOKS = 20;
const LINKS = 10;
const OUTAGE_MS = 4_000;

describe('fault: DMS outage', () => {
  const running = systemForSuite({ workers: 2 });

  it('delivers every notification once the DMS is back, under one webhook-id per event', async () => {
    const system = running();
    const seeded = await system.seedContacts(LINKS, 'outage');
    system.dms.setFaults({ status: 500 });
    const outageFrom = performance.now();

    const envelopes = Array.from({ length: WEBHOOKS }, (_, i) =>
      system.contactUpdate({
        id: objectId(),
        conversation: objectId(),
        profile: { email: `dms-outage-${i}@example.com`, name: `Outage ${i}` },
      }),
    );
    const webhookAnswers = await mapLimit(envelopes, 10, (e) => system.postWebhook(e));
    expect(webhookAnswers.map((a) => [a.status, a.body])).toEqual(
      envelopes.map(() => [200, { status: 'queued' }]),
    );
    const jobIds = await system.postAll(seeded.map((s) => s.event));

    await sleep(Math.max(0, OUTAGE_MS - (performance.now() - outageFrom)));
    const failedDuringOutage = system.dms.deliveries.filter((d) => d.status === 500).length;
    system.dms.setFaults({});
    const recoveredAt = performance.now();
    await system.waitDrained(60_000);
    const drainedMs = performance.now() - recoveredAt;

    const result = await system.checkInvariants({
      linkJobs: jobIds,
      webhookIds: envelopes.map((e) => e.id),
      links: expectedLinks(seeded),
    });

    const groups = new Map<string, DmsDelivery[]>();
    for (const d of system.dms.deliveries) {
      const id = d.webhookId ?? '(none)';
      groups.set(id, [...(groups.get(id) ?? []), d]);
    }
    const jobs = await system.allJobs(QUEUE.notifyDms);
    const jobOf = (webhookId: string) => {
      const job = jobs.find((j) => (j.data as { webhookId?: string }).webhookId === webhookId);
      return job
        ? `job ${job.name} ended ${JSON.stringify(job.returnvalue)} after ${job.attemptsMade} attempts`
        : 'no job';
    };
    const problems: string[] = [];
    for (const [id, tries] of groups) {
      const ok = tries.filter((d) => d.status >= 200 && d.status < 300);
      const type = (tries[0]?.body as { type?: string } | undefined)?.type;
      const what = `${type} ${id} (${tries.map((d) => d.status).join(',')}; ${jobOf(id)})`;
      if (tries.some((d) => !d.verified)) problems.push(`${what}: a try failed verification`);
      if (new Set(tries.map((d) => d.rawBody)).size !== 1) problems.push(`${what}: bodies differ`);
      if (ok.length !== 1 || tries.at(-1) !== ok[0]) problems.push(`${what}: not one final 2xx`);
    }
    for (const e of envelopes) {
      const tries = groups.get(e.id) ?? [];
      // The event went out during the outage, so the DMS saw it fail before it got it.
      if (!tries.some((d) => d.status === 500)) problems.push(`${e.id}: never retried`);
    }
    expect(problems, system.logs()).toEqual([]);
    const linked = [...groups.values()].filter(
      (tries) => (tries[0]?.body as { type?: string } | undefined)?.type === 'contact.linked',
    );
    expect(linked).toHaveLength(LINKS);
    expect(groups.size).toBe(WEBHOOKS + LINKS);

    report('dms-outage', {
      notifications: groups.size,
      deliveries: system.dms.deliveries.length,
      failed_during_outage: failedDuringOutage,
      max_tries: Math.max(...[...groups.values()].map((t) => t.length)),
      outage_s: ((recoveredAt - outageFrom) / 1000).toFixed(1),
      drained_after_recovery_s: (drainedMs / 1000).toFixed(1),
      echoes: result.echoes,
    });
  });
});
