/**
 * Reference: a bare Fastify server. It parses the JSON body with Fastify's own parser and answers
 * 202, nothing else: the ceiling for any Fastify ingress on this machine.
 *
 * Usage: `node bench/baselines/bare-fastify.ts '{"port":4100}'`; prints `READY` once listening.
 */
import Fastify from 'fastify';

const { port } = JSON.parse(process.argv[2] ?? '{}') as { port: number };
const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });

app.post('/updatecontact', async (request, reply) => {
  const body = request.body as { id?: unknown };
  return reply.code(202).send({ status: 'queued', id: body.id });
});

await app.listen({ port, host: '127.0.0.1' });
console.log('READY');

process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
