/**
 * Plumbing for the child processes tests and benches start: they must never outlive the process
 * that started them, however it ends, and their output is wanted line by line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Writable } from 'node:stream';

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

/**
 * Kills `pid` when this process dies in a way no `exit` hook sees (SIGKILL, vitest tearing down its
 * worker): a shell blocks reading a pipe only this process holds open and signals the child when the
 * pipe closes. Stop it with `stopWatchdog` together with the child, so a reused pid is never
 * signalled.
 */
export function startWatchdog(pid: number, name = 'cl-watchdog'): ChildProcess {
  const script = 'cat >/dev/null; kill -9 "$1" 2>/dev/null';
  const watchdog = spawn('/bin/sh', ['-c', script, name, String(pid)], {
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
