import type { JobStatus } from '@contact-linker/contracts';
import { QUEUE } from './catalog.ts';
import { deadLetterId } from './dead-letters.ts';
import type { QueueSet } from './queues.ts';

/**
 * What `GET /jobs/:jobId` answers about a link-contact job, or `undefined` when there is no such
 * job. A job that failed for good is `dead-lettered` once its letter exists, and stays so after
 * dead-lettering removed the failed job itself: then only the letter is left to find.
 */
export async function readJobStatus(
  queues: QueueSet,
  jobId: string,
): Promise<JobStatus | undefined> {
  const queue = queues[QUEUE.linkContact];
  const hasLetter = async () =>
    Boolean(await queues[QUEUE.deadLetter].getJob(deadLetterId(QUEUE.linkContact, jobId)));
  // State before data: read the other way round, a job finishing in between would show
  // `completed` without its outcome.
  const raw = await queue.getJobState(jobId);
  const job = raw === 'unknown' ? undefined : await queue.getJob(jobId);
  if (!job) return (await hasLetter()) ? { jobId, state: 'dead-lettered' } : undefined;

  let state: JobStatus['state'];
  if (raw === 'completed' || raw === 'active' || raw === 'delayed') state = raw;
  else if (raw === 'failed') state = (await hasLetter()) ? 'dead-lettered' : 'failed';
  else state = 'waiting';
  const value = raw === 'completed' ? job.returnvalue : undefined;
  return {
    jobId,
    state,
    ...(value ? { outcome: value.outcome } : {}),
    ...(value?.contactId
      ? { result: { contactId: value.contactId, conversation: value.conversation ?? null } }
      : {}),
  };
}
