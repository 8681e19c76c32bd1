/**
 * One asynchronous face for the Web1on1 sandbox, whether it runs in the test process (the default:
 * scenarios can watch its request log synchronously, e.g. to SIGKILL a worker the moment a request
 * fails) or in a process of its own (`web1on1-process.ts`, for scenarios whose assertions are about
 * the API's view in milliseconds).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import {
  REPO_ROOT,
  type RecordedRequest,
  type SandboxContact,
  startWeb1on1Sandbox,
  type Web1on1Faults,
  type Web1on1Sandbox,
  type Web1on1SandboxOptions,
} from '@contact-linker/testkit';

type NewContact = Partial<SandboxContact> & { organization: string };
type Failure = Parameters<Web1on1Sandbox['failNext']>[1];

export interface Web1on1Control {
  url: string;
  /** Worker settings for this sandbox: a valid token and what renewing it takes. */
  credentials: { token: string; refreshToken: string; botEmail: string };
  /** The sandbox object itself when it runs in the test process; `undefined` in its own process. */
  inProcess: Web1on1Sandbox | undefined;
  /** Stores contacts as seeding, without sending webhooks. */
  addContacts(contacts: NewContact[]): Promise<SandboxContact[]>;
  contacts(): Promise<SandboxContact[]>;
  /** Every `/v2/*` request so far, in arrival order. */
  requests(): Promise<RecordedRequest[]>;
  setFaults(faults: Omit<Web1on1Faults, 'random'>): Promise<void>;
  failNext(count: number, failure: Failure): Promise<void>;
  rateLimitFor(ms: number, retryAfterSec: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWeb1on1(
  options: Web1on1SandboxOptions,
  { ownProcess = false }: { ownProcess?: boolean } = {},
): Promise<Web1on1Control> {
  return ownProcess ? startInChild(options) : startInProcess(options);
}

async function startInProcess(options: Web1on1SandboxOptions): Promise<Web1on1Control> {
  const sandbox = await startWeb1on1Sandbox(options);
  return {
    url: sandbox.url,
    credentials: {
      token: sandbox.issueToken(),
      refreshToken: sandbox.refreshToken,
      botEmail: sandbox.botEmail,
    },
    inProcess: sandbox,
    addContacts: async (contacts) => contacts.map((c) => sandbox.addContact(c)),
    contacts: async () => sandbox.listContacts(),
    requests: async () => [...sandbox.requests],
    setFaults: async (faults) => sandbox.setFaults(faults),
    failNext: async (count, failure) => sandbox.failNext(count, failure),
    rateLimitFor: async (ms, retryAfterSec) => sandbox.rateLimitFor(ms, retryAfterSec),
    close: () => sandbox.close(),
  };
}

async function startInChild(options: Web1on1SandboxOptions): Promise<Web1on1Control> {
  // Raised priority where allowed (root; elsewhere `nice` warns and runs it as is): the sandbox
  // stands for a remote API, which does not wait for this machine's CPUs. Measured on the shared
  // two-core host: its event loop stalled up to 73 ms at normal priority and 36 ms at -10.
  const script = join(REPO_ROOT, 'test/fault/web1on1-process.ts');
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
  if (!child.stdin || !child.stdout) throw new Error('web1on1 sandbox process has no stdio');
  const stdin = child.stdin;
  const lines: Interface = createInterface({ input: child.stdout });
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
  const hello = JSON.parse(await nextLine()) as Web1on1Control['credentials'] & { url: string };
  const url = hello.url;

  async function control(path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${url}/_sandbox/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`web1on1 sandbox ${path}: HTTP ${res.status}`);
    return res.json();
  }

  // One seeding at a time, so each answer line belongs to the request before it.
  let seeding: Promise<unknown> = Promise.resolve();
  return {
    url,
    credentials: { token: hello.token, refreshToken: hello.refreshToken, botEmail: hello.botEmail },
    inProcess: undefined,
    addContacts(contacts) {
      const added = seeding.then(async () => {
        const answer = nextLine();
        stdin.write(`${JSON.stringify({ addContacts: contacts })}\n`);
        return (JSON.parse(await answer) as { contacts: SandboxContact[] }).contacts;
      });
      seeding = added.catch(() => {});
      return added;
    },
    contacts: async () => (await control('contacts')) as SandboxContact[],
    requests: async () => (await control('requests')) as RecordedRequest[],
    setFaults: async (faults) => {
      await control('faults', faults);
    },
    failNext: async (count, failure) => {
      await control('faults', { failNext: { count, ...failure } });
    },
    rateLimitFor: async (ms, retryAfterSec) => {
      await control('faults', { rateLimitFor: { ms, retryAfterSec } });
    },
    close: async () => {
      stdin.end();
      const timeout = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
