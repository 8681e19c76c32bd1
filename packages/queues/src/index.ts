export {
  isWorkQueueName,
  type JobData,
  type JobResult,
  jobOptionsFor,
  QUEUE,
  QUEUE_NAMES,
  type QueueName,
  queueCatalog,
  TIER_BANDS,
  type Tier,
  tierOfPriority,
  WORK_QUEUE_NAMES,
  type WorkQueueName,
} from './catalog.ts';
export {
  createPipelinedDuplicate,
  createRedisConnection,
  evictionPolicy,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisRole,
  redisReady,
  warnUnlessNoEviction,
} from './connection.ts';
export {
  createDeadLetterProcessor,
  type DeadLetterMoverOptions,
  deadLetterId,
  listDeadLetters,
  moveToDeadLetter,
  purgeDeadLetters,
  type ReplayOutcome,
  replayDeadLetter,
  startDeadLetterMover,
  sweepFailedJobs,
} from './dead-letters.ts';
export {
  type BulkJobsOptions,
  bulkJobs,
  contentKey,
  type LinkContactBulkJob,
  type LinkContactEntryOptions,
  linkContactEntry,
  type NotifyDmsEntry,
  type NotifyDmsEntryOptions,
  notifyDmsEntry,
  toLinkContactJob,
} from './entries.ts';
export {
  createFairOrder,
  type FairOrder,
  type FairOrderOptions,
  type OrganizationBacklog,
} from './fair-order.ts';
export { readJobStatus } from './job-status.ts';
export {
  type CreateQueuesOptions,
  closeQueues,
  createQueues,
  type QueueSet,
  queueDepths,
  type TypedQueue,
} from './queues.ts';
