/**
 * A Web1on1 contact deleted after this system linked it, end to end in one process: the Web1on1
 * sandbox deletes it and sends its signed `contact.delete` (Web1on1's documented envelope) to a
 * listening ingress, the worker runtime as main.ts builds it runs the job, and the link memory in
 * Redis no longer holds the link. The DMS hears nothing of the deletion (the contract names no such
 * notification), and the next DMS post of that contact is looked up again instead of being answered
 * from memory. Real Redis, real chipchat, both sandboxes.
 */
import type { AddressInfo } from 'node:net';
import { createLinkMemory } from '@contact-linker/link-memory';
import { createRedisConnection, QUEUE } from '@contact-linker/queues';
import {
  makeWebhookSecret,
  redisTest,
  startDmsSandbox,
  startWeb1on1Sandbox,
  waitFor,
} from '@contact-linker/testkit';
import { describe, expect } from 'vitest';
import { API_KEY, startIngress, WEBHOOK_SECRET } from '../../ingress/test/ingress-harness.ts';
import { ORG, startWorkerStack } from './worker-harness.ts';

const test = redisTest.extend('system', async ({ redisUrl, prefix }, { onCleanup }) => {
  const ingress = await startIngress({ redisUrl, prefix });
  await ingress.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = ingress.app.server.address() as AddressInfo;
  const web1on1 = await startWeb1on1Sandbox({
    organizationId: ORG,
    webhook: { url: `http://127.0.0.1:${port}/webhook`, secret: WEBHOOK_SECRET },
  });
  const secret = makeWebhookSecret();
  const dms = await startDmsSandbox({ secret });
  // One lookup per live event: a DMS post that finds nobody waits at once.
  const stack = await startWorkerStack({
    redisUrl,
    prefix,
    shared: { web1on1, dms, secret },
    notFoundAttempts: 1,
  });
  // The link memory as the worker keeps it (the harness's prefix and link template).
  const redis = createRedisConnection(redisUrl, { role: 'worker' });
  const memory = createLinkMemory({
    redis,
    prefix,
    ttlMs: 60_000,
    linkUrl: (id) => `https://dms.example.test/customer/${id}/`,
  });
  onCleanup(async () => {
    await stack.close();
    await ingress.close();
    await Promise.all([web1on1.close(), dms.close()]);
    await redis.quit();
  });

  /** `POST /updatecontact` for D-1, then its job's status once it completed. */
  async function postDmsContact() {
    const posted = await ingress.app.inject({
      method: 'POST',
      url: '/updatecontact',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ id: 'D-1', organization: ORG, email: 'Sam@example.com' }),
    });
    expect(posted.statusCode).toBe(202);
    const jobId = posted.json().jobId as string;
    return waitFor(
      async () => {
        const res = await ingress.app.inject({
          url: `/jobs/${jobId}`,
          headers: { authorization: `Bearer ${API_KEY}` },
        });
        return res.json().state === 'completed' ? res.json() : undefined;
      },
      { timeoutMs: 15_000, message: `job ${jobId} to complete` },
    );
  }

  /** The Web1on1 API call that deletes a contact, as an agent's console makes it. */
  async function deleteInWeb1on1(id: string) {
    const res = await fetch(`${web1on1.url}/v2/contacts/${id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${web1on1.issueToken()}` },
    });
    expect(res.status).toBe(200);
  }

  /** The notify-dms jobs the worker finished, by name. */
  async function finishedNotifyJobs(name: string) {
    const jobs = await stack.queues[QUEUE.notifyDms].getJobs(['completed']);
    return jobs.filter((j) => j.name === name);
  }

  return { web1on1, dms, memory, postDmsContact, deleteInWeb1on1, finishedNotifyJobs };
});

describe('a Web1on1 contact deleted after it was linked', () => {
  test('is forgotten, the DMS is not told, and the next DMS post looks it up again', async ({
    system,
  }) => {
    const { web1on1, dms, memory } = system;
    const sam = web1on1.addContact({
      organization: ORG,
      profile: { email: 'sam@example.com', name: 'Sam' },
    });
    expect(await system.postDmsContact()).toMatchObject({
      outcome: 'linked',
      result: { contactId: sam.id },
    });
    expect(await memory.recall(ORG, 'D-1')).toMatchObject({ contactId: sam.id });
    // Remembered: the same post again costs no Web1on1 request.
    const beforeRepost = web1on1.requests.length;
    expect(await system.postDmsContact()).toMatchObject({ outcome: 'already_linked' });
    expect(web1on1.requests).toHaveLength(beforeRepost);

    await system.deleteInWeb1on1(sam.id);

    const [forgotten] = await waitFor(
      async () => {
        const jobs = await system.finishedNotifyJobs('contact.deleted');
        return jobs.length > 0 ? jobs : undefined;
      },
      { timeoutMs: 15_000, message: 'the contact.delete webhook to be handled' },
    );
    expect(forgotten?.returnvalue).toEqual({ outcome: 'forgotten' });
    expect(forgotten?.data).toMatchObject({
      type: 'contact.deleted',
      contact: { id: sam.id, profile: { email: 'sam@example.com' } },
    });
    expect(await memory.recall(ORG, 'D-1')).toBeUndefined();
    // The DMS got the contact.linked of the link, and nothing of the deletion.
    expect(dms.accepted().map((d) => (d.body as { type: string }).type)).toEqual([
      'contact.linked',
    ]);

    // The next DMS post of D-1 is looked up again: Sam is gone, so it waits for a contact.
    const beforeLookup = web1on1.requests.length;
    expect(await system.postDmsContact()).toMatchObject({ outcome: 'not_found' });
    expect(web1on1.requests.slice(beforeLookup).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v2/contacts',
    ]);

    // Sam chats again, as a new Web1on1 contact: its contact.create links D-1 to it.
    const created = await fetch(`${web1on1.url}/v2/contacts`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${web1on1.issueToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ organization: ORG, profile: { email: 'sam@example.com' } }),
    });
    const again = (await created.json()) as { id: string };
    await waitFor(async () => (await memory.recall(ORG, 'D-1'))?.contactId === again.id, {
      timeoutMs: 15_000,
      message: 'D-1 to be linked to the new contact',
    });
    expect(web1on1.getContact(again.id)?.links.map((l) => l.url)).toEqual([
      'https://dms.example.test/customer/D-1/',
    ]);
  });
});
