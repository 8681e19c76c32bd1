import type { Logger } from '@contact-linker/observability';
import { type JobData, type JobResult, QUEUE, type QueueName } from '@contact-linker/queues';
import type { Job } from 'bullmq';
import { createDeadLetterProcessor, type DeadLetterDeps } from './dead-letter.ts';
import { createLinkContactProcessor, type LinkContactDeps } from './link-contact.ts';
import { createNotifyDmsProcessor, type NotifyDmsDeps } from './notify-dms.ts';

/** What a processor gets besides its job: the job's lock token and a logger bound to the job. */
export interface JobContext {
  token?: string;
  /** `logger.child({ queue, jobId })`. */
  log: Logger;
}

/** A processor of queue `Q`, typed by the queue catalog's job and result schemas. */
export type Processor<Q extends QueueName> = (
  job: Job<JobData<Q>, JobResult<Q>>,
  context: JobContext,
) => Promise<JobResult<Q>>;

export type ProcessorTable = { [Q in QueueName]: Processor<Q> };

/** Queue → processor, the way a router maps paths to handlers. */
export function createProcessors(deps: {
  linkContact: LinkContactDeps;
  notifyDms: NotifyDmsDeps;
  deadLetter: DeadLetterDeps;
}): ProcessorTable {
  return {
    [QUEUE.linkContact]: createLinkContactProcessor(deps.linkContact),
    [QUEUE.notifyDms]: createNotifyDmsProcessor(deps.notifyDms),
    [QUEUE.deadLetter]: createDeadLetterProcessor(deps.deadLetter),
  };
}
