import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { maskDeep } from '@contact-linker/observability';
import { QUEUE, QUEUE_NAMES, type QueueSet } from '@contact-linker/queues';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../errors.ts';

const BASE_PATH = '/admin/queues';

// Editing or adding jobs by hand (the UI's "duplicate" is an add) would bypass validation, and an operator editing masked data
// would write the stars back; emptying a queue would drop accepted work. None of it is offered.
const FORBIDDEN_ACTIONS =
  /^\/admin\/queues\/api\/queues\/[^/]+\/(?:add|empty|obliterate|[^/]+\/update-data)$/;

/**
 * Bull Board for every queue, mounted inside the authenticated admin scope. Job data and return
 * values are shown with emails and phone numbers masked (the jobs keep the full data). Retrying is
 * offered on the dead-letter queue only, where it replays a letter onto its origin queue; a retry on
 * a work queue directly would leave its letter behind.
 */
export async function bullBoard(app: FastifyInstance, { queues }: { queues: QueueSet }) {
  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'GET' && FORBIDDEN_ACTIONS.test(request.url.split('?')[0] ?? '')) {
      return reply
        .code(403)
        .send(errorBody('forbidden', 'This action is disabled in contact-linker.'));
    }
    return undefined;
  });

  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BASE_PATH);
  createBullBoard({
    queues: QUEUE_NAMES.map((name) => {
      const adapter = new BullMQAdapter(queues[name], {
        allowRetries: name === QUEUE.deadLetter,
        description:
          name === QUEUE.deadLetter
            ? 'Jobs that failed for good. Retry replays one onto its original queue.'
            : '',
      });
      adapter.setFormatter('data', (data) => maskDeep(data));
      adapter.setFormatter('returnValue', (value) => maskDeep(value));
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'contact-linker' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BASE_PATH });
}
