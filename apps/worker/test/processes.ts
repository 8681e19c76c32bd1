/**
 * Starts the real production processes (`node apps/ingress/src/main.ts`, `node apps/worker/src/main.ts`)
 * the way an operator does: the same Node binary, the repo root as working directory, and configuration
 * by environment only. Used by the `*.e2e.test.ts` files.
 */
import { spawn } from 'node:child_process';
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

export { freePort };

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

/**
 * Spawns one production process with exactly `env` (plus `PATH`) and nothing inherited, so the test
 * runner's own variables cannot change its behaviour. Does not wait for readiness.
 */
export function spawnApp(name: AppName, env: Record<string, string>, url = ''): AppProcess {
  const child = spawn(process.execPath, [ENTRYPOINT[name]], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${process.execPath}`);
  const pid = child.pid;
  const forget = killOnExit(pid);
  const watchdog = startWatchdog(pid, 'cl-e2e-watchdog');
  const logs: ProcessLogs = { stdout: [], stderr: [] };
  collectLines(child.stdout, logs.stdout);
  collectLines(child.stderr, logs.stderr);

  // 'close' rather than 'exit': by then stdout and stderr are fully read into `logs`.
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      forget();
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
