import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  const surface = Object.keys(await import('./index.ts')).sort();
  expect(surface).toMatchInlineSnapshot(`
    [
      "REDACT_PATHS",
      "TRACING_OFF",
      "createIngressMetrics",
      "createLogger",
      "createWorkerMetrics",
      "loadConfigOrExit",
      "maskDeep",
      "maskPii",
      "onShutdown",
      "startOpsServer",
      "startTracing",
      "tracingWanted",
    ]
  `);
});
