import type { IngressMetrics } from '@contact-linker/observability';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Counts and times every request by its route template (`/jobs/:jobId`, never the raw URL, so ids
 * and query strings stay out of labels) and serves `GET /metrics`.
 */
async function metricsPlugin(app: FastifyInstance, { metrics }: { metrics: IngressMetrics }) {
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(route, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export default fp(metricsPlugin, { name: 'contact-linker-metrics', fastify: '5.x' });
