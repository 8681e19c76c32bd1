import { DmsContactEvent } from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LiveContactEnqueue } from '../enqueue/live-contact.ts';

const Queued = z.object({ status: z.literal('queued'), jobId: z.string() });

/** Registered in the DMS scope of app.ts, which authenticates and rate-limits it. */
export const updateContactRoutes: FastifyPluginAsyncZod<{ enqueue: LiveContactEnqueue }> = async (
  app,
  { enqueue },
) => {
  app.post(
    '/updatecontact',
    {
      bodyLimit: 64 * 1024,
      schema: {
        security: [{ dmsApiKey: [] }],
        summary: 'A DMS contact was created or updated',
        body: DmsContactEvent,
        response: { 202: Queued },
      },
    },
    async (request, reply) => {
      const { jobId } = await enqueue(request.body);
      return reply.code(202).send({ status: 'queued', jobId });
    },
  );
};
