/**
 * The subset of the integration suite that proves contact-linker on Redis Cluster: both flows, the
 * shared Web1on1 request budget and the per-contact lock, on a 3-master cluster the test kit starts
 * (or the one REDIS_CLUSTER_NODES names), and the fair order of dealers. Every key lives under the
 * hash-tagged prefix, so each BullMQ script, lock, budget and fair-order key stays in one slot; this
 * suite fails with CROSSSLOT otherwise.
 */
import { QUEUE } from '@contact-linker/queues';
import {
  deleteClusterKeysWithPrefix,
  makeWebhookSecret,
  maxInSlidingWindow,
  type RedisClusterHandle,
  signHubSignature,
  startDmsSandbox,
  startRedisCluster,
  startWeb1on1Sandbox,
  uniquePrefix,
  waitFor,
} from '@contact-linker/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startIngress, WEBHOOK_SECRET } from '../../ingress/test/ingress-harness.ts';
import { ORG, settled, startWorkerStack } from './worker-harness.ts';

let cluster: RedisClusterHandle;
let prefix: string;
const redisUrl = 'redis://unused-with-cluster-nodes';

beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await deleteClusterKeysWithPrefix(cluster.nodes, prefix);
});

describe('on a Redis Cluster', () => {
  it('both flows: a DMS contact gets linked and notified, a webhook is forwarded', async () => {
    prefix = uniquePrefix();
    const stack = await startWorkerStack({ redisUrl, prefix, clusterNodes: cluster.nodes });
    const ingress = await startIngress({ redisUrl, prefix, clusterNodes: cluster.nodes });
    try {
      const contact = stack.web1on1.addContact({
        organization: ORG,
        profile: { email: 'jane@example.com', name: 'Jane' },
      });
      const posted = await ingress.app.inject({
        method: 'POST',
        url: '/updatecontact',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ id: 'C-1', organization: ORG, email: 'Jane@example.com' }),
      });
      expect(posted.statusCode).toBe(202);
      const jobId = posted.json().jobId as string;
      const status = await waitFor(
        async () => {
          const res = await ingress.app.inject({
            url: `/jobs/${jobId}`,
            headers: { authorization: `Bearer ${API_KEY}` },
          });
          return res.json().state === 'completed' ? res.json() : undefined;
        },
        { timeoutMs: 15_000 },
      );
      expect(status).toMatchObject({ outcome: 'linked', result: { contactId: contact.id } });
      expect(stack.web1on1.getContact(contact.id)?.links).toHaveLength(1);
      await waitFor(() => stack.dms.accepted().length === 1, { timeoutMs: 10_000 });

      const event = JSON.stringify({
        id: 'evt-cluster',
        event: 'contact.update',
        timestamp: Date.now(),
        organization: ORG,
        data: {
          contact: { id: contact.id, profile: { email: 'jane@example.com', name: 'Janet' } },
        },
      });
      const hook = await ingress.app.inject({
        method: 'POST',
        url: '/webhook',
        headers: {
          'content-type': 'application/json',
          'x-hub-signature': signHubSignature(event, WEBHOOK_SECRET),
        },
        payload: event,
      });
      expect(hook.json()).toEqual({ status: 'queued' });
      await waitFor(() => stack.dms.accepted().length === 2, { timeoutMs: 10_000 });
      expect(stack.dms.accepted()[1]?.webhookId).toBe('evt-cluster');
    } finally {
      await ingress.close();
      await stack.close();
    }
  });

  it('the request budget holds across two workers', async () => {
    prefix = uniquePrefix();
    const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG });
    const secret = makeWebhookSecret();
    const dms = await startDmsSandbox({ secret });
    const shared = { web1on1, dms, secret };
    // A 2 s window gets the budget's 50 ms margin: both workers and the sandbox share this test's
    // event loop, whose stalls bunch arrival stamps by tens of milliseconds (the fault suite measures
    // the exact bound with separate processes). Unshared budgets would show twice the limit.
    const rateLimit = { max: 20, durationMs: 2000 };
    const options = {
      redisUrl,
      prefix,
      shared,
      rateLimit,
      clusterNodes: cluster.nodes,
      notify: false,
    };
    const stacks = [await startWorkerStack(options), await startWorkerStack(options)];
    try {
      for (let i = 0; i < 20; i++) {
        web1on1.addContact({ organization: ORG, profile: { email: `b${i}@x.nl` } });
      }
      const jobs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stacks[i % 2]!.link({ dmsContactId: `B-${i}`, email: `b${i}@x.nl` }),
        ),
      );
      for (const job of jobs) await settled(stacks[0]!.queues, QUEUE.linkContact, job);
      const times = web1on1.requests.map((r) => r.startedAt);
      // A list and a PATCH per job (the list answer is fresh), at least.
      expect(times.length).toBeGreaterThanOrEqual(40);
      expect(maxInSlidingWindow(times, 2000)).toBeLessThanOrEqual(20);
    } finally {
      await Promise.all(stacks.map((s) => s.close()));
      await Promise.all([web1on1.close(), dms.close()]);
    }
  });

  it('dealers take turns: a small one posted after a backlog is linked within its first rounds', async () => {
    prefix = uniquePrefix();
    const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG });
    const ingress = await startIngress({ redisUrl, prefix, clusterNodes: cluster.nodes });
    const post = async (organization: string, id: string) => {
      // Lower case, as Web1on1 stores it and the ingress normalises it.
      web1on1.addContact({ organization, profile: { email: `${id.toLowerCase()}@x.nl` } });
      const res = await ingress.app.inject({
        method: 'POST',
        url: '/updatecontact',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ id, organization, email: `${id}@x.nl` }),
      });
      expect(res.statusCode).toBe(202);
    };
    // Everything waits before the worker starts: dealer A's 20, then dealer B's 4.
    for (let i = 0; i < 20; i++) await post('dealer-a', `A-${i}`);
    for (let i = 0; i < 4; i++) await post('dealer-b', `B-${i}`);
    const secret = makeWebhookSecret();
    const dms = await startDmsSandbox({ secret });
    const stack = await startWorkerStack({
      redisUrl,
      prefix,
      shared: { web1on1, dms, secret },
      concurrency: 1,
      clusterNodes: cluster.nodes,
      notify: false,
    });
    try {
      const patches = () => web1on1.requests.filter((r) => r.method === 'PATCH');
      await waitFor(() => patches().length === 24, { timeoutMs: 20_000 });
      const dealers = patches().map(
        (r) => web1on1.getContact(r.path.split('/').pop() ?? '')?.organization,
      );
      // A, B, A, B, …: first-in-first-out would link all of A's 20 first.
      expect(dealers.slice(0, 8)).toEqual([
        'dealer-a',
        'dealer-b',
        'dealer-a',
        'dealer-b',
        'dealer-a',
        'dealer-b',
        'dealer-a',
        'dealer-b',
      ]);
    } finally {
      await stack.close();
      await ingress.close();
      await Promise.all([web1on1.close(), dms.close()]);
    }
  });

  it('the per-contact lock keeps every link of 20 concurrent jobs', async () => {
    prefix = uniquePrefix();
    const web1on1 = await startWeb1on1Sandbox({ organizationId: ORG, latencyMs: 20 });
    const secret = makeWebhookSecret();
    const dms = await startDmsSandbox({ secret });
    const shared = { web1on1, dms, secret };
    const options = { redisUrl, prefix, shared, concurrency: 10, clusterNodes: cluster.nodes };
    const stacks = [await startWorkerStack(options), await startWorkerStack(options)];
    try {
      const contact = web1on1.addContact({ organization: ORG, profile: { email: 'one@x.nl' } });
      const jobs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stacks[i % 2]!.link({ dmsContactId: `L-${i}`, email: 'one@x.nl' }),
        ),
      );
      for (const job of jobs) await settled(stacks[0]!.queues, QUEUE.linkContact, job);
      const urls = web1on1.getContact(contact.id)!.links.map((l) => l.url);
      expect(new Set(urls).size).toBe(20);
      expect(urls).toHaveLength(20);
    } finally {
      await Promise.all(stacks.map((s) => s.close()));
      await Promise.all([web1on1.close(), dms.close()]);
    }
  });
});
