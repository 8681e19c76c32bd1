import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "DEAD_LETTER_QUEUE",
      "PRIORITY",
      "QUEUE",
      "QUEUE_NAMES",
      "WORK_QUEUE_NAMES",
      "bulkJobs",
      "closeQueues",
      "contentKey",
      "createPipelinedDuplicate",
      "createQueues",
      "createRedisConnection",
      "deadLetterId",
      "deleteIfValue",
      "describeIssues",
      "evictionPolicy",
      "isWorkQueueName",
      "jobOptionsFor",
      "linkContactEntry",
      "listDeadLetters",
      "luaScript",
      "moveToDeadLetter",
      "purgeDeadLetters",
      "queueCatalog",
      "queueDepths",
      "readJobStatus",
      "reconcileDeadLetters",
      "redisReady",
      "replayDeadLetter",
      "replayLetter",
      "toDeadLetterView",
      "toLinkContactJob",
      "warnUnlessNoEviction",
    ]
  `);
});
