/**
 * Child processes of the bench: the real product processes and the baselines, each a `node <script>`
 * with an explicit environment (nothing inherited), bounded log capture, CPU and memory readings from
 * /proc, and cleanup however the bench ends (the testkit's `spawnWatched`, as for the e2e
 * processes). Unlike the testkit's `app-processes.ts` it runs any script (the baselines too),
 * caps the captured output, waits for output lines, and adds profiling options.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ExitStatus, freePort, spawnWatched, waitUntilServing } from '@contact-linker/testkit';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Ticks per second of utime/stime in /proc/<pid>/stat (CLK_TCK; 100 on Linux x86-64). */
export const CLK_TCK = 100;
const MAX_LOG_LINES = 200;

export interface Proc {
  label: string;
  pid: number;
  /** The last lines of stdout and stderr (at most 200 each). */
  stdout: string[];
  stderr: string[];
  exited: Promise<ExitStatus>;
  running(): boolean;
  /** Resolves on the first stdout line matching `re`; rejects on exit or after `timeoutMs`. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then SIGKILL after `timeoutMs`. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
  tail(lines?: number): string;
}

const live = new Set<Proc>();

/**
 * Spawns `node <script> ...args` from the repo root with exactly `env` (the children need no PATH)
 * plus NODE_COMPILE_CACHE.
 * `nodeOptions` become NODE_OPTIONS (profiling, the gc probe).
 */
export function spawnNode(
  label: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  nodeOptions: string[] = [],
): Proc {
  // Node's on-disk compile cache only shortens start-up (module compilation), never steady state.
  const childEnv: Record<string, string> = {
    NODE_COMPILE_CACHE: join(tmpdir(), 'cl-bench-compile-cache'),
    ...env,
  };
  if (nodeOptions.length > 0) childEnv.NODE_OPTIONS = nodeOptions.join(' ');
  const lineWaiters = new Set<(line: string) => void>();
  const child = spawnWatched(label, [script, ...args], {
    cwd: REPO_ROOT,
    env: childEnv,
    watchdogName: 'cl-bench-watchdog',
    maxLines: MAX_LOG_LINES,
    onStdoutLine: (line) => {
      for (const waiter of lineWaiters) waiter(line);
    },
  });
  const { pid, stdout, stderr, exited, running } = child;
  const tail = (lines = 20) => child.tail(lines);

  const proc: Proc = {
    label,
    pid,
    stdout,
    stderr,
    exited,
    running,
    waitForLine(re, timeoutMs = 20_000) {
      const seen = stdout.find((line) => re.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const done = () => {
          lineWaiters.delete(onLine);
          clearTimeout(timer);
        };
        const onLine = (line: string) => {
          if (!re.test(line)) return;
          done();
          resolve(line);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${label}: no line matching ${re} within ${timeoutMs} ms\n${tail()}`));
        }, timeoutMs);
        lineWaiters.add(onLine);
        void exited.then((status) => {
          done();
          reject(new Error(`${label} exited (code ${status.code}) before ${re}\n${tail()}`));
        });
      });
    },
    async stop(timeoutMs = 10_000) {
      if ((await child.signalAndWait('SIGTERM', timeoutMs)) === 'timeout') await child.kill();
    },
    async kill() {
      await child.kill();
    },
    tail,
  };
  void exited.then(() => live.delete(proc));
  live.add(proc);
  return proc;
}

/** Stops every child still running (SIGTERM, then SIGKILL after `timeoutMs`). */
export async function stopAll(timeoutMs = 5_000): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop(timeoutMs)));
}

export { freePort };

/** Polls `url` until it answers 200; fails with the child's output when it exits or times out. */
export async function waitForHttp(proc: Proc, url: string, timeoutMs = 20_000): Promise<void> {
  await waitUntilServing(proc, url, { timeoutMs, intervalMs: 25 });
}

/** CPU time (user + system) of `pid` so far, in milliseconds, from /proc/<pid>/stat. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces; everything after its closing parenthesis is space-separated,
  // starting with field 3, so utime (14) and stime (15) are at 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLK_TCK;
}

/** Resident set size of `pid` in bytes, from /proc/<pid>/status. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}
