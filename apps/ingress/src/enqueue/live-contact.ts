import type { DmsContactEvent } from '@contact-linker/contracts';
import { linkContactEntry, QUEUE, type QueueSet, toLinkContactJob } from '@contact-linker/queues';
import { createGroupCommit } from '../group-commit.ts';
import { REDIS_DEADLINE_MS, withDeadline } from '../redis-deadline.ts';

export interface LinkContactEnqueueOptions {
  queues: QueueSet;
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
 * Enqueues one live DMS event (`POST /updatecontact`) and resolves with its job id once Redis has
 * acknowledged it. Events from concurrent requests share one pipelined `addBulk` (one Redis round
 * trip) and one deadline: a timer per batch rather than per request.
 */
export function createLiveContactEnqueue({
  queues,
  attempts,
  defaultPhoneCountry,
  deadlineMs = REDIS_DEADLINE_MS,
}: LinkContactEnqueueOptions) {
  const queue = queues[QUEUE.linkContact];
  const add = createGroupCommit((entries: Parameters<typeof queue.addBulk>[0]) =>
    withDeadline(
      queue.addBulk(entries).then((added) => added.map((job) => String(job.id))),
      deadlineMs,
    ),
  );
  return async (event: DmsContactEvent): Promise<{ jobId: string }> => {
    const data = toLinkContactJob(event, defaultPhoneCountry);
    return { jobId: await add(linkContactEntry(data, { attempts, bulk: false })) };
  };
}

export type LiveContactEnqueue = ReturnType<typeof createLiveContactEnqueue>;
