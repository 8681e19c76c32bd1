import { DmsContactBulk, DmsContactEvent, describeIssues } from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BulkContactsEnqueue } from '../enqueue/bulk-contacts.ts';

const BulkQueued = z.object({
  status: z.literal('queued'),
  accepted: z.number(),
  rejected: z.array(z.object({ index: z.number(), error: z.string() })),
});

/** Registered in the DMS scope of app.ts, which authenticates and rate-limits it. */
export const updateContactsRoutes: FastifyPluginAsyncZod<{ enqueue: BulkContactsEnqueue }> = async (
  app,
  { enqueue },
) => {
  app.post(
    '/updatecontacts',
    {
      bodyLimit: 1024 * 1024,
      schema: {
        security: [{ dmsApiKey: [] }],
        summary: 'Bulk DMS contacts, for seeding a dealer on bot activation',
        description:
          'Items are validated one by one: valid ones are queued below live traffic, invalid ones are listed by index.',
        body: DmsContactBulk,
        response: { 202: BulkQueued },
      },
    },
    async (request, reply) => {
      const valid: DmsContactEvent[] = [];
      const rejected: Array<{ index: number; error: string }> = [];
      request.body.contacts.forEach((item, index) => {
        const parsed = DmsContactEvent.safeParse(item);
        if (parsed.success) valid.push(parsed.data);
        else rejected.push({ index, error: describeIssues(parsed.error) });
      });
      const { accepted } = await enqueue(valid);
      return reply.code(202).send({ status: 'queued', accepted, rejected });
    },
  );
};
