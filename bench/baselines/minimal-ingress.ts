/**
 * Reference: the smallest ingress that keeps the contract's one promise about durability. It parses
 * the JSON body, awaits one BullMQ `queue.add` of it (default options) and answers 202 after Redis
 * acknowledged it. No auth, no validation, no deduplication, no rate limit, no metrics.
 * `POST /updatecontacts` is the bulk reference: parse, then one `addBulk` of the items as they are.
 *
 * Usage: `node bench/baselines/minimal-ingress.ts '{"port":4101,"redisUrl":"redis://127.0.0.1:6379",
 * "prefix":"{bench}","queue":"link-contact"}'`; prints `READY` once listening.
 */
import { Queue } from 'bullmq';
import Fastify from 'fastify';

interface Options {
  port: number;
  redisUrl: string;
  prefix: string;
  queue: string;
}

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const redis = new URL(opts.redisUrl);
const queue = new Queue(opts.queue, {
  connection: { host: redis.hostname, port: Number(redis.port || 6379) },
  prefix: opts.prefix,
});
await queue.waitUntilReady();

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

app.post('/updatecontact', async (request, reply) => {
  const job = await queue.add('dms.contact', request.body);
  return reply.code(202).send({ status: 'queued', jobId: job.id });
});

app.post('/updatecontacts', async (request, reply) => {
  const { contacts } = request.body as { contacts: unknown[] };
  await queue.addBulk(contacts.map((data) => ({ name: 'dms.contact.bulk', data })));
  return reply.code(202).send({ status: 'queued', accepted: contacts.length, rejected: [] });
});

await app.listen({ port: opts.port, host: '127.0.0.1' });
console.log('READY');

process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => queue.close())
    .finally(() => process.exit(0));
});
