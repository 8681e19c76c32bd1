import type { DmsContactEvent } from '@contact-linker/contracts';
import {
  type FairOrder,
  type LinkContactBulkJob,
  linkContactEntry,
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
}

/**
 * Enqueues one live DMS event (`POST /updatecontact`) in its organization's turn and resolves with
 * its job id once Redis has acknowledged it. Events from concurrent requests share one fair-order
 * tagging and one pipelined `addBulk` (two Redis round trips) and one deadline: a timer per batch
 * rather than per request.
 */
export function createLiveContactEnqueue({
  fairOrder,
  attempts,
  defaultPhoneCountry,
  deadlineMs = REDIS_DEADLINE_MS,
}: LinkContactEnqueueOptions) {
  const add = createGroupCommit((entries: LinkContactBulkJob[]) =>
    withDeadline(
      fairOrder.add(entries).then((added) => added.map((job) => String(job.id))),
      deadlineMs,
    ),
  );
  return async (event: DmsContactEvent): Promise<{ jobId: string }> => {
    const data = toLinkContactJob(event, defaultPhoneCountry);
    return { jobId: await add(linkContactEntry(data, { attempts, bulk: false })) };
  };
}

export type LiveContactEnqueue = ReturnType<typeof createLiveContactEnqueue>;
