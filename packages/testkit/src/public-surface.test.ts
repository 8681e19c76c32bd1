import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "ENTRYPOINT",
      "REPO_ROOT",
      "UNFINISHED_JOB_STATES",
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
      "spawnApp",
      "spawnWatched",
      "startDmsSandbox",
      "startIngressProcess",
      "startOtlpReceiver",
      "startPrivateRedis",
      "startRedis",
      "startRedisCluster",
      "startWatchdog",
      "startWeb1on1Sandbox",
      "startWeb1on1SandboxProcess",
      "startWorkerProcess",
      "stopWatchdog",
      "uniquePrefix",
      "waitFor",
      "waitUntilReady",
      "waitUntilServing",
      "web1on1Envelope",
    ]
  `);
});
