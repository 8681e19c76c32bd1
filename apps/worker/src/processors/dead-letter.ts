import {
  createDeadLetterProcessor as parkOrReplay,
  type QUEUE,
  type QueueSet,
} from '@contact-linker/queues';
import type { Processor } from './index.ts';

export interface DeadLetterDeps {
  queues: QueueSet;
}

/** Parks and replays dead letters; every step of dead-lettering lives in `@contact-linker/queues`. */
export function createDeadLetterProcessor({
  queues,
}: DeadLetterDeps): Processor<typeof QUEUE.deadLetter> {
  const process = parkOrReplay(queues);
  return (job) => process(job);
}
