import { DeadLetterSummary } from '@contact-linker/contracts';
import { listDeadLetters, QUEUE, type QueueSet, replayDeadLetter } from '@contact-linker/queues';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.ts';

/**
 * Operator endpoints under `/admin` (registered only when admin credentials are configured). The
 * admin scope in app.ts runs `adminAuth` as its `onRequest` hook before any of them.
 */
export const adminRoutes: FastifyPluginAsyncZod<{ queues: QueueSet }> = async (app, { queues }) => {
  app.get(
    '/admin/dead-letters',
    {
      schema: {
        security: [{ admin: [] }],
        summary: 'List dead letters, oldest first',
        response: { 200: z.array(DeadLetterSummary) },
      },
    },
    async () => listDeadLetters(queues[QUEUE.deadLetter]),
  );

  app.post(
    '/admin/dead-letters/:id/replay',
    {
      config: { bodyless: true },
      schema: {
        security: [{ admin: [] }],
        summary: 'Re-enqueue one dead letter onto its original queue',
        params: z.object({ id: z.string().max(300) }),
        response: {
          200: z.object({ status: z.literal('replayed'), queue: z.string(), jobId: z.string() }),
        },
      },
    },
    async (request) => {
      const outcome = await replayDeadLetter(queues, request.params.id);
      if (!outcome.replayed) throw new ApiError('not_found', { message: 'No such dead letter.' });
      return { status: 'replayed' as const, queue: outcome.queue, jobId: outcome.jobId };
    },
  );
};
