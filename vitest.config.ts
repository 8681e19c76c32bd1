import { defineConfig } from 'vitest/config';

/**
 * Suites, chosen by file name:
 * - `*.test.ts`: pure unit tests beside the source, no I/O beyond loopback servers they own;
 * - `*.integration.test.ts`: real Redis (from the testkit harness), sandboxes, in-process apps;
 * - `*.e2e.test.ts`: the real `start:ingress` / `start:worker` processes, and `pnpm dev` itself;
 * - `test/fault/*.fault.test.ts`: those processes under injected faults (crashes, outages, 429s),
 *   minutes long, so outside the unit run and one file at a time.
 * Integration and e2e files run one at a time: they share one machine's Redis and CPU, and their
 * timing-sensitive assertions (timeouts, backoff) get flaky when eight files fight for two cores.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{apps,packages}/*/{src,test}/**/*.test.ts',
            'scripts/**/*.test.ts',
            'test/**/*.test.ts',
            'deploy/**/*.test.ts',
          ],
          exclude: [
            '**/*.integration.test.ts',
            '**/*.e2e.test.ts',
            '**/*.fault.test.ts',
            '**/*.cluster.test.ts',
            '**/node_modules/**',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['{apps,packages}/*/{src,test}/**/*.integration.test.ts'],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['{apps,packages}/*/{src,test}/**/*.e2e.test.ts', 'scripts/**/*.e2e.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['{apps,packages}/*/{src,test}/**/*.cluster.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'fault',
          include: ['test/fault/**/*.fault.test.ts'],
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
