/**
 * Bench-only preload for a process under measurement, loaded through
 * `NODE_OPTIONS="--expose-gc --import <this file>"`, so no product code changes. On SIGUSR2 it runs a
 * full garbage collection (twice, so objects freed by finalizers of the first go too) and writes
 * `{ seq, at, rss, heapUsed, heapTotal, external, arrayBuffers }` to the file named by
 * `BENCH_GC_PROBE_FILE` (a new `seq` each time, so the reader knows the answer is fresh).
 *
 * The environment is read through `node:process` here: the probe is bench tooling, not product code.
 */
import { writeFileSync } from 'node:fs';
import { env } from 'node:process';

const file = env.BENCH_GC_PROBE_FILE;
const collect = (globalThis as { gc?: () => void }).gc;
let seq = 0;

if (file !== undefined && file !== '') {
  process.on('SIGUSR2', () => {
    collect?.();
    collect?.();
    seq += 1;
    const usage = process.memoryUsage();
    writeFileSync(
      file,
      JSON.stringify({ seq, at: Date.now(), gc: collect !== undefined, ...usage }),
      'utf8',
    );
  });
}
