/**
 * Plumbing for the child processes tests and benches start: they must never outlive the process
 * that started them, however it ends, and their output is wanted line by line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<number>();
let exitHookInstalled = false;

/**
 * SIGKILLs `pid` when this process exits normally (an `exit` hook); returns the function that
 * forgets it again, to call once the child is gone so a reused pid is never signalled.
 */
export function killOnExit(pid: number): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const alive of live) {
        try {
          process.kill(alive, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  live.add(pid);
  return () => live.delete(pid);
}

export interface WatchdogOptions {
  /** Names the watchdog shell in `ps`. @defaultValue 'cl-watchdog' */
  name?: string;
  /** The process to SIGKILL. */
  pid?: number;
  /** A file or directory to remove (after the kill), e.g. a private redis-server's working dir. */
  removePath?: string;
}

/**
 * Kills `pid` and removes `removePath` when this process ends in any way, including the ones no
 * `exit` hook sees (SIGKILL, vitest tearing down its worker): a shell blocks reading a pipe only this
 * process holds open and acts when the pipe closes. Stop it with `stopWatchdog` together with the
 * child, so a reused pid is never signalled.
 */
export function startWatchdog({
  name = 'cl-watchdog',
  pid,
  removePath,
}: WatchdogOptions): ChildProcess {
  // `rm` retries once: a process killed a moment earlier may still be writing into the directory.
  const script =
    'cat >/dev/null; [ -z "$1" ] || kill -9 "$1" 2>/dev/null; [ -z "$2" ] || rm -rf -- "$2" || { sleep 1; rm -rf -- "$2"; }';
  const watchdog = spawn('/bin/sh', ['-c', script, name, String(pid ?? ''), removePath ?? ''], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Own process group, so stopping it takes its `cat` along.
    detached: true,
  });
  watchdog.on('error', () => {});
  watchdog.stdin?.on('error', () => {});
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return watchdog;
}

export function stopWatchdog(watchdog: ChildProcess): void {
  try {
    if (watchdog.pid !== undefined) process.kill(-watchdog.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Appends each line of `stream` (without its newline) to `into` as it arrives, keeping the last
 * `maxLines` when given, and tells `onLine`.
 */
export function collectLines(
  stream: NodeJS.ReadableStream | null,
  into: string[],
  { onLine = () => {}, maxLines }: { onLine?: (line: string) => void; maxLines?: number } = {},
): void {
  if (!stream) return;
  let partial = '';
  const add = (line: string) => {
    into.push(line);
    if (maxLines !== undefined && into.length > maxLines) into.shift();
    onLine(line);
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) add(line);
  });
  stream.on('end', () => {
    if (partial !== '') add(partial);
    partial = '';
  });
}

/** A TCP port of 127.0.0.1 nothing listens on right now (bind to 0, read it, release it). */
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

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process with its output captured and its death guaranteed. */
export interface WatchedChild {
  label: string;
  pid: number;
  /** Output lines (without the newline) as they arrive; the last `maxLines` when that was given. */
  stdout: string[];
  stderr: string[];
  /** Resolves when it has exited and its output is fully read (never rejects). */
  exited: Promise<ExitStatus>;
  running(): boolean;
  /** Sends `signal` when it still runs, then waits at most `timeoutMs` for it to exit. */
  signalAndWait(signal: NodeJS.Signals, timeoutMs: number): Promise<ExitStatus | 'timeout'>;
  /** SIGKILL when it still runs; resolves when it is gone. Safe to call any number of times. */
  kill(): Promise<ExitStatus>;
  /** The last `lines` lines of stdout and stderr, for failure messages. */
  tail(lines?: number): string;
}

export interface SpawnWatchedOptions {
  /** The program to run, looked up on `env.PATH`. @defaultValue this process's Node binary */
  command?: string;
  cwd: string;
  /** The child's whole environment: nothing is inherited. */
  env: Record<string, string>;
  /** Names the watchdog shell in `ps`. */
  watchdogName: string;
  maxLines?: number;
  onStdoutLine?: (line: string) => void;
  /**
   * Lets this process exit while the child still runs (the exit hook then kills it), for helpers
   * such as a private redis-server that a script may leave for process exit to clean up. Wait for
   * its end through `kill()` or `signalAndWait()`, which hold this process open until it comes.
   * @defaultValue false
   */
  unref?: boolean;
  /**
   * Runs it in a process group of its own, so a Ctrl-C at the terminal (which signals the whole
   * foreground group) does not reach it: for helpers the caller stops itself, in its own order.
   * @defaultValue false
   */
  detached?: boolean;
}

/**
 * Spawns `command ...args` (by default `node`, this process's binary) that dies with this process
 * however it ends (exit hook and watchdog), with stdout and stderr collected line by line.
 */
export function spawnWatched(
  label: string,
  args: string[],
  {
    command = process.execPath,
    cwd,
    env,
    watchdogName,
    maxLines,
    onStdoutLine,
    unref = false,
    detached = false,
  }: SpawnWatchedOptions,
): WatchedChild {
  const child = spawn(command, args, { cwd, env, detached, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) {
    // The 'error' event (ENOENT, EACCES) follows on the next tick; unheard, it would crash us.
    child.once('error', () => {});
    throw new Error(`${label}: could not spawn ${command}`);
  }
  const pid = child.pid;
  const forget = killOnExit(pid);
  const watchdog = startWatchdog({ name: watchdogName, pid });
  const handles = [child, child.stdout as Socket | null, child.stderr as Socket | null];
  if (unref) for (const handle of handles) handle?.unref();
  // An unref'd child would not keep this process alive for its own exit; whoever awaits it does.
  const awaitExit = () => {
    for (const handle of handles) handle?.ref();
    return exited;
  };
  const stdout: string[] = [];
  const stderr: string[] = [];
  collectLines(child.stdout, stdout, {
    ...(maxLines === undefined ? {} : { maxLines }),
    ...(onStdoutLine === undefined ? {} : { onLine: onStdoutLine }),
  });
  collectLines(child.stderr, stderr, maxLines === undefined ? {} : { maxLines });
  // 'close' rather than 'exit': by then stdout and stderr are fully read.
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      forget();
      stopWatchdog(watchdog);
      resolve({ code, signal });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    label,
    pid,
    stdout,
    stderr,
    exited,
    running,
    async signalAndWait(signal, timeoutMs) {
      if (running()) child.kill(signal);
      return Promise.race([awaitExit(), sleep(timeoutMs, 'timeout' as const, { ref: false })]);
    },
    async kill() {
      if (running()) child.kill('SIGKILL');
      return awaitExit();
    },
    tail: (lines = 30) =>
      [
        `--- ${label} (pid ${pid}) stdout ---`,
        ...stdout.slice(-lines),
        `--- ${label} stderr ---`,
        ...stderr.slice(-lines),
      ].join('\n'),
  };
}

/**
 * Polls `url` until it answers 200. Fails early, with the child's output, when the child exits, or
 * when `timeoutMs` passes.
 */
export async function waitUntilServing(
  child: Pick<WatchedChild, 'label' | 'running' | 'exited' | 'tail'>,
  url: string,
  { timeoutMs, intervalMs }: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer yet';
  while (performance.now() < deadline) {
    if (!child.running()) {
      const status = await child.exited;
      throw new Error(
        `${child.label} exited before it was ready (code ${status.code}, signal ${status.signal})\n${child.tail()}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(intervalMs);
  }
  throw new Error(
    `${child.label} not ready at ${url} within ${timeoutMs} ms (${last})\n${child.tail()}`,
  );
}
