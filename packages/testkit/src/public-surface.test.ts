import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "deleteClusterKeysWithPrefix",
      "deleteKeysWithPrefix",
      "makeWebhookSecret",
      "maxInSlidingWindow",
      "parsePrometheusText",
      "redisTest",
      "sampleValue",
      "signHubSignature",
      "startDmsSandbox",
      "startPrivateRedis",
      "startRedis",
      "startRedisCluster",
      "startWeb1on1Sandbox",
      "uniquePrefix",
      "waitFor",
    ]
  `);
});
