/**
 * Starts the real production processes (`node apps/ingress/src/main.ts`, `node apps/worker/src/main.ts`)
 * the way an operator does: the same Node binary, the repo root as working directory, and configuration
 * by environment only. Used by the `*.e2e.test.ts` files.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const ENTRYPOINT = {
  ingress: 'apps/ingress/src/main.ts',
  worker: 'apps/worker/src/main.ts',
} as const;
export type AppName = keyof typeof ENTRYPOINT;

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Output of a child, one entry per line (without the newline), appended as it arrives. */
export interface ProcessLogs {
  stdout: string[];
  stderr: string[];
}

export interface AppProcess {
  name: AppName;
  pid: number;
  /** Base URL of its HTTP listener: the ingress API, or the worker's ops server (`WORKER_PORT`). */
  url: string;
  logs: ProcessLogs;
  /** Resolves when the process has exited (never rejects). */
  exited: Promise<ExitStatus>;
  /** Whether it is still running. */
  running(): boolean;
  /** Sends `signal` once and resolves with the exit status; rejects when it has not exited in `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ExitStatus>;
  /** SIGKILL if still running; resolves when it is gone. Safe to call any number of times. */
  kill(): Promise<ExitStatus>;
  /** The last `lines` lines of stdout and stderr, for failure messages. */
  tail(lines?: number): string;
}

/** A TCP port nothing listens on right now (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Children must never outlive the test process, whatever happens to it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/**
 * Kills `pid` when this process dies in a way no `exit` hook sees (SIGKILL, vitest tearing down its
 * worker): a shell blocks reading a pipe only this process holds open and signals the child when the
 * pipe closes. It is stopped together with the child, so a reused pid is never signalled.
 */
function startWatchdog(pid: number): ChildProcess {
  const script = 'cat >/dev/null; kill -9 "$1" 2>/dev/null';
  const watchdog = spawn('/bin/sh', ['-c', script, 'cl-e2e-watchdog', String(pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Own process group, so stopping it takes its `cat` along.
    detached: true,
  });
  watchdog.on('error', () => {});
  watchdog.stdin?.on('error', () => {});
  watchdog.unref();
  (watchdog.stdin as (Writable & { unref?: () => void }) | null)?.unref?.();
  return watchdog;
}

function stopWatchdog(watchdog: ChildProcess): void {
  try {
    if (watchdog.pid !== undefined) process.kill(-watchdog.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function collectLines(stream: NodeJS.ReadableStream | null, into: string[]): void {
  if (!stream) return;
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    into.push(...parts);
  });
  stream.on('end', () => {
    if (partial !== '') into.push(partial);
    partial = '';
  });
}

/**
 * Spawns one production process with exactly `env` (plus `PATH`) and nothing inherited, so the test
 * runner's own variables cannot change its behaviour. Does not wait for readiness.
 */
export function spawnApp(name: AppName, env: Record<string, string>, url = ''): AppProcess {
  installExitHook();
  const child = spawn(process.execPath, [ENTRYPOINT[name]], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${process.execPath}`);
  const pid = child.pid;
  live.add(child);
  const watchdog = startWatchdog(pid);
  const logs: ProcessLogs = { stdout: [], stderr: [] };
  collectLines(child.stdout, logs.stdout);
  collectLines(child.stderr, logs.stderr);

  // 'close' rather than 'exit': by then stdout and stderr are fully read into `logs`.
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      live.delete(child);
      stopWatchdog(watchdog);
      resolve({ code, signal });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;

  const tail = (lines = 30) =>
    [
      `--- ${name} (pid ${pid}) stdout ---`,
      ...logs.stdout.slice(-lines),
      `--- ${name} stderr ---`,
      ...logs.stderr.slice(-lines),
    ].join('\n');

  return {
    name,
    pid,
    url,
    logs,
    exited,
    running,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
      if (running()) child.kill(signal);
      const timeout = sleep(timeoutMs, 'timeout' as const, { ref: false });
      const result = await Promise.race([exited, timeout]);
      if (result === 'timeout') {
        throw new Error(`${name} did not exit within ${timeoutMs} ms of ${signal}\n${tail()}`);
      }
      return result;
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      return exited;
    },
    tail,
  };
}

/**
 * Polls `${url}${path}` until it answers 200. Fails early, with the child's output, when the child
 * exits or `timeoutMs` passes.
 */
export async function waitUntilReady(
  app: AppProcess,
  path = '/readyz',
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    if (!app.running()) {
      const status = await app.exited;
      throw new Error(
        `${app.name} exited before it was ready (code ${status.code}, signal ${status.signal})\n${app.tail()}`,
      );
    }
    try {
      const res = await fetch(`${app.url}${path}`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(50);
  }
  throw new Error(
    `${app.name} not ready at ${app.url}${path} within ${timeoutMs} ms (${last})\n${app.tail()}`,
  );
}

/** `node apps/ingress/src/main.ts` on `env.PORT`, resolved once `GET /readyz` answers 200. */
export async function startIngressProcess(env: Record<string, string>): Promise<AppProcess> {
  if (!env.PORT) throw new Error('startIngressProcess: env.PORT is required');
  const app = spawnApp('ingress', env, `http://127.0.0.1:${env.PORT}`);
  await waitUntilReady(app).catch(async (error: unknown) => {
    await app.kill();
    throw error;
  });
  return app;
}

/** `node apps/worker/src/main.ts` with its ops server on `env.WORKER_PORT`, once `GET /readyz` answers 200. */
export async function startWorkerProcess(env: Record<string, string>): Promise<AppProcess> {
  if (!env.WORKER_PORT) throw new Error('startWorkerProcess: env.WORKER_PORT is required');
  const app = spawnApp('worker', env, `http://127.0.0.1:${env.WORKER_PORT}`);
  await waitUntilReady(app).catch(async (error: unknown) => {
    await app.kill();
    throw error;
  });
  return app;
}
