/**
 * One asynchronous face for the Web1on1 sandbox, whether it runs in the test process (the default:
 * scenarios can watch its request log synchronously, e.g. to SIGKILL a worker the moment a request
 * fails) or in a process of its own (the testkit's `startWeb1on1SandboxProcess`, for scenarios whose
 * assertions are about the API's view in milliseconds).
 */
import {
  type RecordedRequest,
  type SandboxContact,
  startWeb1on1Sandbox,
  startWeb1on1SandboxProcess,
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
  if (ownProcess) return { ...(await startWeb1on1SandboxProcess(options)), inProcess: undefined };
  return startInProcess(options);
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
