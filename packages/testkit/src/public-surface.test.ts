import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "collectLines",
      "deleteClusterKeysWithPrefix",
      "deleteKeysWithPrefix",
      "freePort",
      "killOnExit",
      "makeWebhookSecret",
      "maxInSlidingWindow",
      "parsePrometheusText",
      "redisTest",
      "sampleValue",
      "signHubSignature",
      "spawnWatched",
      "startDmsSandbox",
      "startPrivateRedis",
      "startRedis",
      "startRedisCluster",
      "startWatchdog",
      "startWeb1on1Sandbox",
      "stopWatchdog",
      "uniquePrefix",
      "waitFor",
      "waitUntilServing",
    ]
  `);
});
