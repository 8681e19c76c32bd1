/**
 * Reference: a plain BullMQ worker calling plain chipchat with chipchat's defaults (its got instance
 * as shipped: retries on, no keep-alive agent, no timeout). Per job, mode `link`: `contacts.list` by
 * organization and email, then `contacts.update` adding the link to the first match (no lock, no
 * re-read, no validation). Mode `one-request`: only the `contacts.list`. With `limiter`, BullMQ's
 * stock rate limiter `{ max, duration }` (it counts jobs, not requests).
 *
 * Usage: `node bench/baselines/minimal-worker.ts '<json options>'`; prints `READY` once connected.
 */
import { createRequire } from 'node:module';
import { Worker } from 'bullmq';

interface Options {
  redisUrl: string;
  prefix: string;
  queue: string;
  apiUrl: string;
  token: string;
  concurrency: number;
  mode: 'link' | 'one-request';
  linkTemplate: string;
  limiter?: { max: number; duration: number };
}

interface Contact {
  id: string;
  links?: Array<{ label?: string; url: string; icon?: string }>;
}

interface ChipChat {
  contacts: {
    list(query: Record<string, unknown>): Promise<Contact[]>;
    update(id: string, body: Record<string, unknown>): Promise<Contact>;
  };
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const ChipChatClass = createRequire(import.meta.url)('chipchat') as new (o: {
  host: string;
  token: string;
}) => ChipChat;
const chip = new ChipChatClass({ host: opts.apiUrl, token: opts.token });
const redis = new URL(opts.redisUrl);

const worker = new Worker(
  opts.queue,
  async (job) => {
    const event = job.data as { id: string | number; organization: string; email: string };
    const found = await chip.contacts.list({
      organization: event.organization,
      'profile.email': event.email.toLowerCase(),
      limit: 10,
    });
    const contact = found[0];
    if (opts.mode === 'one-request' || contact === undefined) return { found: found.length };
    const url = opts.linkTemplate.replace('{id}', encodeURIComponent(String(event.id)));
    await chip.contacts.update(contact.id, {
      links: [...(contact.links ?? []), { label: 'View in DMS', url }],
    });
    return { linked: contact.id };
  },
  {
    connection: {
      host: redis.hostname,
      port: Number(redis.port || 6379),
      maxRetriesPerRequest: null,
    },
    prefix: opts.prefix,
    concurrency: opts.concurrency,
    ...(opts.limiter ? { limiter: opts.limiter } : {}),
  },
);
worker.on('error', (err) => console.error('worker error', err.message));
await worker.waitUntilReady();
console.log('READY');

process.once('SIGTERM', () => {
  void worker.close().finally(() => process.exit(0));
});
