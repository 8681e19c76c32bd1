import { QUEUE, type QueueName } from '@contact-linker/queues';
import type { Job } from 'bullmq';
import { createDeadLetterProcessor, type DeadLetterDeps } from './dead-letter.ts';
import { createLinkContactProcessor, type LinkContactDeps } from './link-contact.ts';
import { createNotifyDmsProcessor, type NotifyDmsDeps } from './notify-dms.ts';

export type ProcessorTable = {
  [Q in QueueName]: (job: Job) => Promise<unknown>;
};

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
