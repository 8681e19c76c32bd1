/**
 * Child processes of the bench: the real product processes and the baselines, each a `node <script>`
 * with an explicit environment (nothing inherited), bounded log capture, CPU and memory readings from
 * /proc, and cleanup however the bench ends (the testkit's exit hook and watchdog, as for the e2e
 * processes). Unlike `apps/worker/test/processes.ts` it runs any script (the baselines too), caps the
 * captured output, and adds profiling options.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  collectLines,
  freePort,
  killOnExit,
  startWatchdog,
  stopWatchdog,
} from '@contact-linker/testkit';

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
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
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
  const child = spawn(process.execPath, [script, ...args], {
    cwd: REPO_ROOT,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${label}: could not spawn ${process.execPath}`);
  const pid = child.pid;
  const forget = killOnExit(pid);
  const watchdog = startWatchdog(pid, 'cl-bench-watchdog');
  const stdout: string[] = [];
  const stderr: string[] = [];
  const lineWaiters = new Set<(line: string) => void>();
  collectLines(child.stdout, stdout, {
    maxLines: MAX_LOG_LINES,
    onLine: (line) => {
      for (const waiter of lineWaiters) waiter(line);
    },
  });
  collectLines(child.stderr, stderr, { maxLines: MAX_LOG_LINES });

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(proc);
      forget();
      stopWatchdog(watchdog);
      resolve({ code, signal });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const tail = (lines = 20) =>
    [
      `--- ${label} (pid ${pid}) stdout ---`,
      ...stdout.slice(-lines),
      `--- ${label} stderr ---`,
      ...stderr.slice(-lines),
    ].join('\n');

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
      if (running()) child.kill('SIGTERM');
      const timeout = sleep(timeoutMs, 'timeout' as const, { ref: false });
      if ((await Promise.race([exited, timeout])) === 'timeout') {
        if (running()) child.kill('SIGKILL');
        await exited;
      }
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      await exited;
    },
    tail,
  };
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
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    if (!proc.running()) {
      const status = await proc.exited;
      throw new Error(`${proc.label} exited (code ${status.code}) before ready\n${proc.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(25);
  }
  throw new Error(
    `${proc.label} not ready at ${url} within ${timeoutMs} ms (${last})\n${proc.tail()}`,
  );
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
