import { JobStatus } from '@contact-linker/contracts';
import { type QueueSet, readJobStatus } from '@contact-linker/queues';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { withDeadline } from '../redis-deadline.ts';

// Job ids are UUIDs minted by the ingress; anything else cannot exist, so it is a plain 404.
const JOB_ID = /^[A-Za-z0-9-]{1,64}$/;

export interface JobRoutesOptions {
  queues: QueueSet;
  /** How long Redis may take before the request answers 503. */
  deadlineMs: number;
}

/** Registered in the DMS scope of app.ts, which authenticates and rate-limits it. */
export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (
  app,
  { queues, deadlineMs },
) => {
  app.get(
    '/jobs/:jobId',
    {
      schema: {
        security: [{ dmsApiKey: [] }],
        summary: 'Outcome of an accepted DMS event',
        params: z.object({ jobId: z.string() }),
        response: { 200: JobStatus },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      const status = JOB_ID.test(jobId)
        ? await withDeadline(readJobStatus(queues, jobId), deadlineMs)
        : undefined;
      if (!status) throw new ApiError('not_found', { message: 'No such job.' });
      return status;
    },
  );
};
