import { DmsContactEvent } from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const Queued = z.object({ status: z.literal('queued'), jobId: z.string() });

export const updateContactRoutes: FastifyPluginAsyncZod = async (app) => {
  app.post(
    '/updatecontact',
    {
      bodyLimit: 64 * 1024,
      onRequest: app.dmsAuth,
      schema: {
        security: [{ dmsApiKey: [] }],
        summary: 'A DMS contact was created or updated',
        body: DmsContactEvent,
        response: { 202: Queued },
      },
    },
    async (request, reply) => {
      const { jobId } = await app.producer.enqueueContact(request.body);
      return reply.code(202).send({ status: 'queued', jobId });
    },
  );
};
