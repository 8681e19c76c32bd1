import type { DmsContactEvent } from '@contact-linker/contracts';
import { type MessageCreation, TRACING_OFF, type Tracing } from '@contact-linker/observability';
import {
  type FairOrder,
  type LinkContactBulkJob,
  linkContactEntry,
  QUEUE,
  toLinkContactJob,
} from '@contact-linker/queues';
import { createGroupCommit } from '../group-commit.ts';
import { REDIS_DEADLINE_MS, withDeadline } from '../redis-deadline.ts';

export interface LinkContactEnqueueOptions {
  /** Adds link-contact jobs in their organization's turn. */
  fairOrder: Pick<FairOrder, 'add'>;
  /** Attempts before a job is dead-lettered (`JOB_ATTEMPTS`). */
  attempts: number;
  /** Country of national phone numbers (`DEFAULT_PHONE_COUNTRY`). */
  defaultPhoneCountry: string;
  /**
   * How long Redis may take before the request answers 503.
   * @defaultValue {@link REDIS_DEADLINE_MS} (800)
   */
  deadlineMs?: number;
  /**
   * Traces each event into its own job and the batch into a span linked to all of them.
   * @defaultValue {@link TRACING_OFF}
   */
  tracing?: Pick<Tracing, 'createMessage' | 'sendBatch'>;
}

/** One event on its way into a batch: its entry, and its `create` span when tracing. */
interface Pending {
  entry: LinkContactBulkJob;
  message: MessageCreation | undefined;
}

/**
 * Enqueues one live DMS event (`POST /updatecontact`) in its organization's turn and resolves with
 * its job id once Redis has acknowledged it. Events from concurrent requests share one fair-order
 * tagging and one pipelined `addBulk` (two Redis round trips) and one deadline: a timer per batch
 * rather than per request.
 *
 * Traced, each event's job carries the context of its own `create link-contact` span (a child of
 * its request's), so the worker continues that request's trace; the shared `addBulk` runs in a
 * `send link-contact` span of its own, linked to each of them.
 */
export function createLiveContactEnqueue({
  fairOrder,
  attempts,
  defaultPhoneCountry,
  deadlineMs = REDIS_DEADLINE_MS,
  tracing = TRACING_OFF,
}: LinkContactEnqueueOptions) {
  const add = createGroupCommit((batch: Pending[]) =>
    withDeadline(
      tracing
        .sendBatch(
          QUEUE.linkContact,
          batch.map((pending) => pending.message),
          () => fairOrder.add(batch.map((pending) => pending.entry)),
        )
        .then((added) => added.map((job) => String(job.id))),
      deadlineMs,
    ),
  );
  return async (event: DmsContactEvent): Promise<{ jobId: string }> => {
    const data = toLinkContactJob(event, defaultPhoneCountry);
    const entry = linkContactEntry(data, { attempts, bulk: false });
    const message = tracing.createMessage(QUEUE.linkContact);
    if (!message) return { jobId: await add({ entry, message }) };
    try {
      const jobId = await add({
        entry: { ...entry, opts: { ...entry.opts, telemetry: { metadata: message.metadata } } },
        message,
      });
      message.end({ messageId: jobId });
      return { jobId };
    } catch (error) {
      message.end({ error });
      throw error;
    }
  };
}

export type LiveContactEnqueue = ReturnType<typeof createLiveContactEnqueue>;
