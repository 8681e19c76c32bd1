/**
 * Starts the real production processes (`node apps/ingress/src/main.ts`, `node apps/worker/src/main.ts`)
 * the way an operator does: the same Node binary, the repo root as working directory, and configuration
 * by environment only. Used by the `*.e2e.test.ts` files and the fault suite.
 */
import { join } from 'node:path';
import { type ExitStatus, spawnWatched, waitUntilServing } from './child-process.ts';

/** The repository root: this file is `packages/testkit/src/app-processes.ts`. */
export const REPO_ROOT = join(import.meta.dirname, '..', '..', '..');

export const ENTRYPOINT = {
  ingress: 'apps/ingress/src/main.ts',
  worker: 'apps/worker/src/main.ts',
} as const;
export type AppName = keyof typeof ENTRYPOINT;

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
  const child = spawnWatched(name, [ENTRYPOINT[name]], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    watchdogName: 'cl-e2e-watchdog',
  });
  return {
    name,
    pid: child.pid,
    url,
    logs: { stdout: child.stdout, stderr: child.stderr },
    exited: child.exited,
    running: child.running,
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
      const result = await child.signalAndWait(signal, timeoutMs);
      if (result === 'timeout') {
        throw new Error(
          `${name} did not exit within ${timeoutMs} ms of ${signal}\n${child.tail()}`,
        );
      }
      return result;
    },
    kill: child.kill,
    tail: child.tail,
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
  await waitUntilServing({ ...app, label: app.name }, `${app.url}${path}`, {
    timeoutMs,
    intervalMs: 50,
  });
}

/** The variable that names each process's HTTP port (the ingress API, the worker's ops server). */
const PORT_VARIABLE = { ingress: 'PORT', worker: 'WORKER_PORT' } as const;

/** `node apps/<name>/src/main.ts` listening on its port from `env`, once `GET /readyz` answers 200. */
async function startAppProcess(name: AppName, env: Record<string, string>): Promise<AppProcess> {
  const port = env[PORT_VARIABLE[name]];
  if (!port) throw new Error(`start ${name}: env.${PORT_VARIABLE[name]} is required`);
  const app = spawnApp(name, env, `http://127.0.0.1:${port}`);
  await waitUntilReady(app).catch(async (error: unknown) => {
    await app.kill();
    throw error;
  });
  return app;
}

/** `node apps/ingress/src/main.ts` on `env.PORT`, resolved once `GET /readyz` answers 200. */
export const startIngressProcess = (env: Record<string, string>) => startAppProcess('ingress', env);

/** `node apps/worker/src/main.ts` with its ops server on `env.WORKER_PORT`, once `GET /readyz` answers 200. */
export const startWorkerProcess = (env: Record<string, string>) => startAppProcess('worker', env);
