import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "QUEUE",
      "QUEUE_NAMES",
      "TIER_BANDS",
      "WORK_QUEUE_NAMES",
      "bulkJobs",
      "closeQueues",
      "contentKey",
      "createDeadLetterProcessor",
      "createFairOrder",
      "createPipelinedDuplicate",
      "createQueues",
      "createRedisConnection",
      "deadLetterId",
      "evictionPolicy",
      "isWorkQueueName",
      "jobOptionsFor",
      "linkContactEntry",
      "listDeadLetters",
      "moveToDeadLetter",
      "notifyDmsEntry",
      "purgeDeadLetters",
      "queueCatalog",
      "queueDepths",
      "readJobStatus",
      "redisReady",
      "replayDeadLetter",
      "startDeadLetterMover",
      "sweepFailedJobs",
      "tierOfPriority",
      "toLinkContactJob",
      "warnUnlessNoEviction",
    ]
  `);
});
