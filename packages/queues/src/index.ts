export {
  DEAD_LETTER_QUEUE,
  isWorkQueueName,
  type JobData,
  type JobResult,
  jobOptionsFor,
  PRIORITY,
  QUEUE,
  QUEUE_NAMES,
  type QueueName,
  queueCatalog,
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
  type DeadLetterView,
  deadLetterId,
  listDeadLetters,
  moveToDeadLetter,
  purgeDeadLetters,
  type ReplayOutcome,
  reconcileDeadLetters,
  replayDeadLetter,
  replayLetter,
  toDeadLetterView,
} from './dead-letters.ts';
export {
  type BulkJobsOptions,
  bulkJobs,
  contentKey,
  describeIssues,
  type LinkContactBulkJob,
  type LinkContactEntryOptions,
  linkContactEntry,
  toLinkContactJob,
} from './link-contact-jobs.ts';
export { deleteIfValue, luaScript } from './lua-script.ts';
export {
  closeQueues,
  createQueues,
  type QueueSet,
  queueDepths,
  type TypedQueue,
} from './queues.ts';
