/**
 * The real client (real chipchat, real got) against the Web1on1 sandbox. The sandbox records every
 * HTTP request, so "exactly one request" proves that got's hidden retries are off, and the request
 * list proves what a token renewal costs.
 */
import {
  type ClientError,
  PermanentError,
  RateLimitedError,
  TransientError,
} from '@contact-linker/contracts';
import { startWeb1on1Sandbox, type Web1on1Sandbox } from '@contact-linker/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createWeb1on1Client,
  type Web1on1ClientOptions,
  type Web1on1RequestEvent,
  type Web1on1Tokens,
} from './client.ts';

const ORG = 'org-dealer-1';
const LINK = {
  label: 'View in DMS',
  url: 'https://dms.example/customer/42/',
  icon: 'https://dms.example/favicon.ico',
};
let sandbox: Web1on1Sandbox;

beforeEach(async () => {
  sandbox = await startWeb1on1Sandbox({ organizationId: ORG });
});
afterEach(async () => {
  await sandbox.close();
});

function client(overrides: Partial<Web1on1ClientOptions> = {}) {
  return createWeb1on1Client({
    host: sandbox.url,
    token: sandbox.issueToken(),
    refreshToken: sandbox.refreshToken,
    email: sandbox.botEmail,
    ...overrides,
  });
}

async function rejectionOf(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    return error as ClientError;
  }
  throw new Error('expected a rejection');
}

const trail = () => sandbox.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

describe('findContacts', () => {
  it('finds by organization and exact email', async () => {
    const jan = sandbox.addContact({ organization: ORG, profile: { email: 'jan@example.com' } });
    sandbox.addContact({ organization: 'other', profile: { email: 'jan@example.com' } });
    sandbox.addContact({ organization: ORG, profile: { email: 'jan@example.co' } });

    const found = await client().findContacts({ organization: ORG, email: 'jan@example.com' });

    expect(found.contacts.map((c) => c.id)).toEqual([jan.id]);
    expect(found.several).toBe(false);
    expect(found.contacts[0]).toMatchObject({ conversation: jan.conversation, organization: ORG });
    expect(sandbox.requests[0]?.query).toEqual({
      organization: ORG,
      limit: '2',
      'profile.email': 'jan@example.com',
    });
  });

  it('finds by an E.164 telephone, whose "+" survives the query string', async () => {
    const piet = sandbox.addContact({ organization: ORG, profile: { telephone: '+31612345678' } });
    const found = await client().findContacts({ organization: ORG, telephone: '+31612345678' });
    expect(found.contacts.map((c) => c.id)).toEqual([piet.id]);
  });

  it('answers an empty list when nothing matches', async () => {
    sandbox.addContact({ organization: ORG, profile: { email: 'someone@example.com' } });
    await expect(
      client().findContacts({ organization: ORG, email: 'nobody@example.com' }),
    ).resolves.toEqual({ contacts: [], several: false });
  });

  it('asks for two, enough to see several, in one request', async () => {
    for (let i = 0; i < 3; i += 1)
      sandbox.addContact({ organization: ORG, profile: { email: 'twin@example.com' } });
    const found = await client().findContacts({ organization: ORG, email: 'twin@example.com' });
    expect(found.contacts).toHaveLength(2);
    expect(found.several).toBe(true);
    expect(trail()).toEqual(['GET /v2/contacts 200']);
  });

  it('refuses a search without email or telephone, without a request', async () => {
    const error = await rejectionOf(client().findContacts({ organization: ORG }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(sandbox.requests).toHaveLength(0);
  });

  it('treats a malformed answer as transient', async () => {
    sandbox.failNext(1, { status: 200, body: { not: 'a list' } });
    const error = await rejectionOf(
      client().findContacts({ organization: ORG, email: 'a@example.com' }),
    );
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('Web1on1 GET /v2/contacts answered with an unexpected shape');
  });
});

describe('findContacts against an API that pages below the limit (Link: rel="next")', () => {
  let paged: Web1on1Sandbox;
  beforeEach(async () => {
    paged = await startWeb1on1Sandbox({ organizationId: ORG, pageSize: 1 });
  });
  afterEach(async () => {
    await paged.close();
  });

  /** A client whose budget counts its acquires: the gate every request passes. */
  function countedClient() {
    let acquired = 0;
    const c = createWeb1on1Client({
      host: paged.url,
      token: paged.issueToken(),
      budget: {
        acquire: async () => {
          acquired += 1;
        },
        pause: async () => {},
      },
    });
    return { c, acquired: () => acquired };
  }

  it('three matches, one per page: one request, and the answer is "several"', async () => {
    for (let i = 0; i < 3; i += 1)
      paged.addContact({ organization: ORG, profile: { email: 'twin@example.com' } });
    const { c, acquired } = countedClient();

    const found = await c.findContacts({ organization: ORG, email: 'twin@example.com' });

    expect(found.several).toBe(true);
    expect(found.contacts).toHaveLength(1);
    // The next page was announced and never fetched.
    expect(paged.requests.map((r) => [r.method, r.path, r.query.limit, r.query.offset])).toEqual([
      ['GET', '/v2/contacts', '2', undefined],
    ]);
    expect(acquired()).toBe(1);
  });

  it('one match: one request, and the answer is that contact alone', async () => {
    const only = paged.addContact({ organization: ORG, profile: { email: 'only@example.com' } });
    paged.addContact({ organization: ORG, profile: { email: 'other@example.com' } });
    const { c, acquired } = countedClient();

    const found = await c.findContacts({ organization: ORG, email: 'only@example.com' });

    expect(found).toEqual({ contacts: [expect.objectContaining({ id: only.id })], several: false });
    expect(paged.requests).toHaveLength(1);
    expect(acquired()).toBe(1);
  });
});

describe('addLink', () => {
  it('adds the link after the existing ones with one GET and one PATCH', async () => {
    const existing = { label: 'CRM', url: 'https://crm.example/7' };
    const contact = sandbox.addContact({ organization: ORG, links: [existing] });

    const result = await client().addLink(contact.id, LINK);

    expect(result.status).toBe('linked');
    expect(result.contact.links).toEqual([existing, LINK]);
    expect(sandbox.getContact(contact.id)?.links).toEqual([existing, LINK]);
    expect(trail()).toEqual([
      `GET /v2/contacts/${contact.id} 200`,
      `PATCH /v2/contacts/${contact.id} 200`,
    ]);
    expect(sandbox.requests[1]?.body).toEqual({ links: [existing, LINK] });
  });

  it('omits icon when none is given', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    await client().addLink(contact.id, { label: 'L', url: 'https://dms.example/1' });
    expect(sandbox.getContact(contact.id)?.links).toEqual([
      { label: 'L', url: 'https://dms.example/1' },
    ]);
  });

  it('answers already_linked without a PATCH when a link with that url exists', async () => {
    const contact = sandbox.addContact({
      organization: ORG,
      links: [{ label: 'older label', url: LINK.url }],
    });

    const result = await client().addLink(contact.id, LINK);

    expect(result.status).toBe('already_linked');
    expect(result.contact.id).toBe(contact.id);
    expect(trail()).toEqual([`GET /v2/contacts/${contact.id} 200`]);
  });

  it('a 404 on the PATCH is permanent', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    sandbox.failNext(1, { status: 404, method: 'PATCH' });
    const error = await rejectionOf(client().addLink(contact.id, LINK));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.status).toBe(404);
  });

  it('an unknown contact is permanent', async () => {
    const error = await rejectionOf(client().getContact('000000000000000000000000'));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.message).toBe(
      'Web1on1 GET /v2/contacts/000000000000000000000000 answered 404: Contact not found',
    );
  });
});

describe('failures reach the caller at once, as retry classes', () => {
  it('503 → TransientError after exactly one request (no hidden got retries)', async () => {
    sandbox.failNext(1, { status: 503 });
    const started = performance.now();
    const error = await rejectionOf(
      client().findContacts({ organization: ORG, email: 'jan@example.com' }),
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(error).toBeInstanceOf(TransientError);
    expect(error.status).toBe(503);
    expect(error.message).not.toContain('jan@example.com');
    expect(trail()).toEqual(['GET /v2/contacts 503']);
  });

  it('429 → RateLimitedError with retryAfterMs from Retry-After, after one request', async () => {
    sandbox.rateLimitFor(5_000, 5);
    const error = await rejectionOf(
      client().findContacts({ organization: ORG, email: 'jan@example.com' }),
    );
    expect(error).toBeInstanceOf(RateLimitedError);
    expect((error as RateLimitedError).retryAfterMs).toBe(5_000);
    expect(sandbox.requests).toHaveLength(1);
  });

  it('a request that hangs → TransientError after timeoutMs', async () => {
    sandbox.hangNext(1);
    const started = performance.now();
    const error = await rejectionOf(
      client({ timeoutMs: 300 }).getContact('000000000000000000000000'),
    );
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('Web1on1 GET /v2/contacts/000000000000000000000000 timed out');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1500);
    expect(sandbox.requests).toHaveLength(1);
  });
});

describe('token renewal', () => {
  it('renews an expired token once and the call succeeds', async () => {
    const jan = sandbox.addContact({ organization: ORG, profile: { email: 'jan@example.com' } });
    const stored: Web1on1Tokens[] = [];
    let current: Web1on1Tokens | undefined;
    const c = client({
      token: sandbox.issueToken({ expiresInSec: -10 }),
      tokenStore: {
        get: async () => current,
        set: async (t) => {
          stored.push(t);
          current = t;
        },
      },
    });

    const found = await c.findContacts({ organization: ORG, email: 'jan@example.com' });
    const again = await c.getContact(jan.id);

    expect(found.contacts.map((f) => f.id)).toEqual([jan.id]);
    expect(again.id).toBe(jan.id);
    expect(sandbox.tokenRefreshes).toBe(1);
    expect(trail()).toEqual([
      'GET /v2/contacts 401',
      'POST /v2/auth/token 200',
      'GET /v2/contacts 200',
      `GET /v2/contacts/${jan.id} 200`,
    ]);
    expect(sandbox.requests[1]?.body).toEqual({
      clientId: sandbox.botEmail,
      refreshToken: sandbox.refreshToken,
    });
    expect(stored).toHaveLength(1);
    expect(stored[0]?.refreshToken).toBe(sandbox.refreshToken);
  });

  it('renews once for many calls that find the token expired at the same time', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    const c = client({ token: sandbox.issueToken({ expiresInSec: -10 }) });

    const results = await Promise.all(Array.from({ length: 5 }, () => c.getContact(contact.id)));

    expect(results.map((r) => r.id)).toEqual(Array(5).fill(contact.id));
    expect(sandbox.tokenRefreshes).toBe(1);
    expect(sandbox.requests.filter((r) => r.path === '/v2/auth/token')).toHaveLength(1);
  });

  it('uses a token another process already stored instead of renewing', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    const fresh = sandbox.issueToken();
    const c = client({
      token: sandbox.issueToken({ expiresInSec: -10 }),
      tokenStore: { get: async () => ({ token: fresh }), set: async () => undefined },
    });

    await c.getContact(contact.id);

    expect(sandbox.tokenRefreshes).toBe(0);
    expect(trail()).toEqual([
      `GET /v2/contacts/${contact.id} 401`,
      `GET /v2/contacts/${contact.id} 200`,
    ]);
  });

  it('a token endpoint that is down makes the call transient, not a permanent 401', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    sandbox.failNext(1, { status: 503, method: 'POST' });
    const c = client({ token: sandbox.issueToken({ expiresInSec: -10 }) });

    const error = await rejectionOf(c.getContact(contact.id));

    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('Web1on1 POST /v2/auth/token answered 503: Sandbox fault');
    // The next call renews and succeeds.
    await expect(c.getContact(contact.id)).resolves.toMatchObject({ id: contact.id });
    expect(sandbox.tokenRefreshes).toBe(1);
  });

  it('without a refresh token an expired token is a permanent 401', async () => {
    const c = client({ token: sandbox.issueToken({ expiresInSec: -10 }), refreshToken: undefined });
    const error = await rejectionOf(c.findContacts({ organization: ORG, email: 'a@example.com' }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.status).toBe(401);
    expect(error.message).toContain('jwt expired');
    expect(error.message).not.toContain('eyJ');
    expect(sandbox.requests).toHaveLength(1);
  });

  it('refuses a token chipchat cannot decode at construction', () => {
    expect(() => client({ token: 'not-a-jwt' })).toThrow(TypeError);
  });
});

describe('token renewal when the API answers an expired token 403, as Web1on1 documents', () => {
  let documented: Web1on1Sandbox;
  beforeEach(async () => {
    documented = await startWeb1on1Sandbox({ organizationId: ORG, tokenExpiredStatus: 403 });
  });
  afterEach(async () => {
    await documented.close();
  });

  const expiredClient = (overrides: Partial<Web1on1ClientOptions> = {}) =>
    createWeb1on1Client({
      host: documented.url,
      token: documented.issueToken({ expiresInSec: -10 }),
      refreshToken: documented.refreshToken,
      email: documented.botEmail,
      ...overrides,
    });
  const trail403 = () => documented.requests.map((r) => `${r.method} ${r.path} ${r.status}`);

  it('renews once and the call succeeds, exactly as after a 401', async () => {
    const jan = documented.addContact({ organization: ORG, profile: { email: 'jan@example.com' } });
    const c = expiredClient();

    const found = await c.findContacts({ organization: ORG, email: 'jan@example.com' });
    await c.addLink(jan.id, LINK);

    expect(found.contacts.map((f) => f.id)).toEqual([jan.id]);
    expect(documented.tokenRefreshes).toBe(1);
    expect(trail403()).toEqual([
      'GET /v2/contacts 403',
      'POST /v2/auth/token 200',
      'GET /v2/contacts 200',
      `GET /v2/contacts/${jan.id} 200`,
      `PATCH /v2/contacts/${jan.id} 200`,
    ]);
  });

  it('renews once for many calls that meet the 403 at the same time', async () => {
    const contact = documented.addContact({ organization: ORG });
    const c = expiredClient();
    const results = await Promise.all(Array.from({ length: 5 }, () => c.getContact(contact.id)));
    expect(results.map((r) => r.id)).toEqual(Array(5).fill(contact.id));
    expect(documented.tokenRefreshes).toBe(1);
  });

  it('without a refresh token the 403 is permanent, after one request', async () => {
    const c = expiredClient({ refreshToken: undefined });
    const error = await rejectionOf(c.findContacts({ organization: ORG, email: 'a@example.com' }));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.status).toBe(403);
    expect(error.message).toContain('jwt expired');
    expect(documented.requests).toHaveLength(1);
  });

  it('a 403 that is not about the token is permanent and renews nothing', async () => {
    const contact = documented.addContact({ organization: ORG });
    documented.failNext(1, {
      status: 403,
      body: { error: { status: 403, name: 'ForbiddenError', message: 'Insufficient scope' } },
    });
    const error = await rejectionOf(
      expiredClient({ token: documented.issueToken() }).getContact(contact.id),
    );
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.status).toBe(403);
    expect(documented.tokenRefreshes).toBe(0);
    expect(documented.requests).toHaveLength(1);
  });
});

describe('request hooks', () => {
  it("awaits the budget's acquire before each HTTP request, token renewal included", async () => {
    const contact = sandbox.addContact({ organization: ORG });
    let calls = 0;
    let release: () => void = () => undefined;
    const c = client({
      token: sandbox.issueToken({ expiresInSec: -10 }),
      budget: {
        acquire: async () => {
          calls += 1;
          if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
        },
        pause: async () => {},
      },
    });

    const pending = c.addLink(contact.id, LINK);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Held at the first acquire: nothing has reached the API yet.
    expect(calls).toBe(1);
    expect(sandbox.requests).toHaveLength(0);
    release();
    await pending;

    // GET 401, POST token, GET, PATCH: one acquire each.
    expect(trail()).toEqual([
      `GET /v2/contacts/${contact.id} 401`,
      'POST /v2/auth/token 200',
      `GET /v2/contacts/${contact.id} 200`,
      `PATCH /v2/contacts/${contact.id} 200`,
    ]);
    expect(calls).toBe(4);
  });

  it('when acquire throws, nothing is sent and its error comes back', async () => {
    const exhausted = new RateLimitedError('budget exhausted', { retryAfterMs: 250 });
    const c = client({
      budget: {
        acquire: async () => {
          throw exhausted;
        },
        pause: async () => {},
      },
    });
    const error = await rejectionOf(c.getContact('000000000000000000000000'));
    expect(error).toBe(exhausted);
    expect(sandbox.requests).toHaveLength(0);
  });

  it('reports every request to onRequest with operation, status and duration', async () => {
    const contact = sandbox.addContact({ organization: ORG, profile: { email: 'e@example.com' } });
    const events: Web1on1RequestEvent[] = [];
    const c = client({
      token: sandbox.issueToken({ expiresInSec: -10 }),
      timeoutMs: 200,
      onRequest: (e) => events.push(e),
    });

    await c.findContacts({ organization: ORG, email: 'e@example.com' });
    await c.addLink(contact.id, LINK);
    sandbox.failNext(1, { status: 502 });
    await rejectionOf(c.getContact(contact.id));
    sandbox.hangNext(1);
    await rejectionOf(c.getContact(contact.id));

    expect(events.map((e) => [e.operation, e.status])).toEqual([
      ['list', 401],
      ['token', 200],
      ['list', 200],
      ['get', 200],
      ['update', 200],
      ['get', 502],
      ['get', 'error'],
    ]);
    for (const e of events) expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(events.at(-1)?.durationMs).toBeGreaterThanOrEqual(190);
  });

  it('an onRequest that throws does not change the outcome', async () => {
    const contact = sandbox.addContact({ organization: ORG });
    const c = client({
      onRequest: () => {
        throw new Error('metrics down');
      },
    });
    await expect(c.getContact(contact.id)).resolves.toMatchObject({ id: contact.id });
  });
});
