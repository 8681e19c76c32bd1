/**
 * The Web1on1 sandbox in a process of its own, for measurements of what the API sees to the
 * millisecond: the request budget, the 429 pause, arrivals in a sliding window, when a link was
 * written. In a process that also runs the test or generates the load, the sandbox stamps a request's
 * `startedAt` only when that process's event loop gets to it, and there it stalls (vitest, the DMS
 * sandbox, autocannon, GC: up to ~100 ms in the fault suite, 50–290 ms in the bench): requests that
 * arrived apart get bunched, and a window counts more than the clients sent in it. Measured on the
 * shared two-core host, same configuration: 31–38 requests in the busiest 1000 ms with the sandbox in
 * the test process, 21–30 in its own (the rest is the system's own; see
 * `test/fault/budget.fault.test.ts`).
 *
 * Its stamps are `Date.now()` on the same machine, so they compare with the caller's own readings.
 * The child (`web1on1-sandbox-child.ts`) is controlled through the sandbox's `/_sandbox/*` HTTP
 * endpoints, plus its stdin for seeding (no webhook, like `addContact`) and for its event-loop delay.
 * It exits when its stdin closes, so it never outlives the process that started it, however that ends.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from './app-processes.ts';
import type { Failure } from './faults.ts';
import type {
  RecordedRequest,
  SandboxContact,
  Web1on1Faults,
  Web1on1SandboxOptions,
} from './web1on1-sandbox.ts';

/** Contacts per seeding line: a few ms of the sandbox's event loop each. */
const SEED_LINE = 200;

/** A contact to seed: what `Web1on1Sandbox.addContact` takes. */
export type NewSandboxContact = Partial<SandboxContact> & { organization: string };

export interface Web1on1SandboxProcess {
  /** `http://127.0.0.1:<port>`: give it to chipchat as `host`. */
  url: string;
  pid: number;
  /** Worker settings for this sandbox: a valid token (24 h) and what renewing it takes. */
  credentials: { token: string; refreshToken: string; botEmail: string };
  /**
   * Stores contacts as seeding, without sending webhooks; sent in lines of `SEED_LINE`, so the
   * sandbox's event loop is never held for long (2000 contacts in one line held it ~50 ms).
   */
  addContacts(contacts: NewSandboxContact[]): Promise<SandboxContact[]>;
  contacts(): Promise<SandboxContact[]>;
  /**
   * Every `/v2/*` request so far, in arrival order, as a fresh array. Each call fetches only the
   * records from the first one not yet answered on (an answered record never changes again), so
   * polling it costs the sandbox a few records, not the whole log. Reset the sandbox with `reset()`.
   */
  requests(): Promise<RecordedRequest[]>;
  /** Replaces the standing faults; `setFaults({})` removes them. */
  setFaults(faults: Omit<Web1on1Faults, 'random'>): Promise<void>;
  failNext(count: number, failure: Failure): Promise<void>;
  rateLimitFor(ms: number, retryAfterSec: number): Promise<void>;
  /** Forgets contacts, requests, queued and standing faults (`Web1on1Sandbox.reset`). */
  reset(): Promise<void>;
  /** The sandbox process's event-loop delay since it listened: how late its stamps may be. */
  eventLoopDelay(): Promise<{ p99Ms: number; maxMs: number }>;
  /** Ends the process (closing its stdin; SIGKILL if it has not exited within 5 s). */
  close(): Promise<void>;
}

/**
 * Starts the sandbox in its own process (on 127.0.0.1, a free port unless `options.port`), resolved
 * once it listens.
 */
export async function startWeb1on1SandboxProcess(
  options: Web1on1SandboxOptions = {},
): Promise<Web1on1SandboxProcess> {
  // Raised priority where allowed (root; elsewhere `nice` warns and runs it as is): the sandbox
  // stands for a remote API, which does not wait for this machine's CPUs. Measured on the shared
  // two-core host: its event loop stalled up to 73 ms at normal priority and 36 ms at -10.
  const script = join(import.meta.dirname, 'web1on1-sandbox-child.ts');
  const child: ChildProcess = spawn(
    'nice',
    ['-n', '-10', process.execPath, script, JSON.stringify(options)],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });
  if (!child.stdin || !child.stdout || child.pid === undefined) {
    throw spawnError ?? new Error('web1on1 sandbox process did not start');
  }
  const pid = child.pid;
  const stdin = child.stdin;
  // A child that died makes writes fail with EPIPE; the answer's timeout reports it.
  stdin.on('error', () => {});
  const lines = createInterface({ input: child.stdout });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(spawnError ?? new Error('web1on1 sandbox process said nothing within 10 s'));
      }, 10_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  const hello = JSON.parse(await nextLine()) as Web1on1SandboxProcess['credentials'] & {
    url: string;
  };
  const url = hello.url;

  async function get(path: string): Promise<Response> {
    const res = await fetch(`${url}/_sandbox/${path}`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`web1on1 sandbox ${path}: HTTP ${res.status}`);
    return res;
  }

  async function post(path: string, body: unknown): Promise<void> {
    const res = await fetch(`${url}/_sandbox/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`web1on1 sandbox ${path}: HTTP ${res.status}`);
    await res.arrayBuffer();
  }

  // One stdin command at a time, so each answer line belongs to the command before it.
  let commands: Promise<unknown> = Promise.resolve();
  function ask<T>(command: unknown): Promise<T> {
    const answered = commands.then(async () => {
      const answer = nextLine();
      stdin.write(`${JSON.stringify(command)}\n`);
      return JSON.parse(await answer) as T;
    });
    commands = answered.catch(() => {});
    return answered;
  }

  // The request log as last read; reads and resets one at a time, so none sees another's half.
  let log: RecordedRequest[] = [];
  let logUse: Promise<unknown> = Promise.resolve();
  function withLog<T>(use: () => Promise<T>): Promise<T> {
    const done = logUse.then(use);
    logUse = done.catch(() => {});
    return done;
  }
  async function readLog(): Promise<RecordedRequest[]> {
    // A record changes only until its answer sets its status; one never answered (hung, or closed
    // unanswered) keeps status 0 and is read again each time.
    const open = log.findIndex((r) => r.status === 0);
    const from = open === -1 ? log.length : open;
    const res = await get(`requests?from=${from}`);
    const total = Number(res.headers.get('x-total-count'));
    const fresh = (await res.json()) as RecordedRequest[];
    if (total < from) {
      // Reset by someone else (`POST /_sandbox/reset`): start over.
      log = [];
      return readLog();
    }
    log = [...log.slice(0, from), ...fresh];
    return [...log];
  }

  return {
    url,
    pid,
    credentials: { token: hello.token, refreshToken: hello.refreshToken, botEmail: hello.botEmail },
    addContacts: async (contacts) => {
      const lines: Array<Promise<{ contacts: SandboxContact[] }>> = [];
      for (let i = 0; i < contacts.length; i += SEED_LINE) {
        lines.push(ask({ addContacts: contacts.slice(i, i + SEED_LINE) }));
      }
      return (await Promise.all(lines)).flatMap((line) => line.contacts);
    },
    contacts: async () => (await (await get('contacts')).json()) as SandboxContact[],
    requests: () => withLog(readLog),
    setFaults: (faults) => post('faults', faults),
    failNext: (count, failure) => post('faults', { failNext: { count, ...failure } }),
    rateLimitFor: (ms, retryAfterSec) => post('faults', { rateLimitFor: { ms, retryAfterSec } }),
    reset: () =>
      withLog(async () => {
        await post('reset', {});
        log = [];
      }),
    eventLoopDelay: async () =>
      (await ask<{ eventLoopDelay: { p99Ms: number; maxMs: number } }>({ eventLoopDelay: true }))
        .eventLoopDelay,
    close: async () => {
      stdin.end();
      const timeout = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
