import { LinkOutcome } from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.ts';

const JobStatus = z.object({
  jobId: z.string(),
  state: z.enum(['waiting', 'active', 'delayed', 'completed', 'failed', 'dead-lettered']),
  outcome: LinkOutcome.optional(),
  result: z.object({ contactId: z.string(), conversation: z.string().nullable() }).optional(),
});

// Job ids are UUIDs minted by the ingress; anything else cannot exist, so it is a plain 404.
const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

export const jobRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/jobs/:jobId',
    {
      onRequest: app.dmsAuth,
      schema: {
        security: [{ dmsApiKey: [] }],
        summary: 'Outcome of an accepted DMS event',
        params: z.object({ jobId: z.string() }),
        response: { 200: JobStatus },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      const status = JOB_ID.test(jobId) ? await app.producer.getContactJob(jobId) : undefined;
      if (!status) throw new ApiError('not_found', { message: 'No such job.' });
      return status;
    },
  );
};
