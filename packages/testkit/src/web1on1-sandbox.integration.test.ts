/**
 * The Web1on1 sandbox driven by the real chipchat 0.7.4 client: if chipchat accepts the sandbox's
 * tokens, query strings, answers and errors here, the client wrapper's integration tests exercise the
 * same code paths they will against the real API. Fault controls are checked with plain `fetch`, so
 * chipchat's own retries cannot hide what the sandbox answered.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { WebhookContact, WebhookDataLinks, WebhookEnvelope } from '@contact-linker/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';
import { signHubSignature, startWeb1on1Sandbox, type Web1on1Sandbox } from './web1on1-sandbox.ts';

/** The slice of chipchat this test uses; chipchat ships no types. */
interface ChipChatLike {
  auth: { token?: string; user?: string; organization?: string };
  contacts: {
    list(q: Record<string, unknown>): Promise<Array<Record<string, unknown>>>;
    get(id: string): Promise<Record<string, unknown>>;
    update(id: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
    create(body: Record<string, unknown>): Promise<Record<string, unknown>>;
  };
  on(event: 'token', listener: (token: string) => void): void;
}
type ChipChatCtor = new (opts: {
  host: string;
  token: string;
  refreshToken?: string;
  email?: string;
  /** chipchat's global pagination: with it, `list` follows `Link: rel="next"` (got's paginate). */
  pagination?: { limit?: number };
}) => ChipChatLike;
const ChipChat = createRequire(import.meta.url)('chipchat') as ChipChatCtor;

/** What chipchat rejects with on an HTTP error (a got HTTPError that chipchat decorates). */
interface ChipChatError {
  statusCode?: number;
  message: string;
}

const ORG = 'org-dealer-1';
let sandbox: Web1on1Sandbox;

beforeEach(async () => {
  sandbox = await startWeb1on1Sandbox({ organizationId: ORG });
});
afterEach(async () => {
  await sandbox.close();
});

function bot(token = sandbox.issueToken()): ChipChatLike {
  return new ChipChat({
    host: sandbox.url,
    token,
    refreshToken: sandbox.refreshToken,
    email: sandbox.botEmail,
  });
}

async function rejectionOf(promise: Promise<unknown>): Promise<ChipChatError> {
  try {
    await promise;
  } catch (error) {
    return error as ChipChatError;
  }
  throw new Error('expected a rejection');
}

describe('tokens', () => {
  it('issues a JWT whose claims chipchat decodes: user, organization, bot scope', () => {
    const client = bot();
    expect(client.auth.user).toMatch(/^[0-9a-f]{24}$/);
    expect(client.auth.organization).toBe(ORG);
    expect(sandbox.botEmail).toBe(`bot+${client.auth.user}@web1on1.chat`);
    const payload = JSON.parse(
      Buffer.from(sandbox.issueToken().split('.')[1] ?? '', 'base64url').toString(),
    );
    expect(payload.scope).toContain('bot');
    expect(payload.exp - payload.iat).toBeGreaterThan(3600);
  });

  it('rejects a tampered token with 401 "invalid signature", which chipchat surfaces', async () => {
    const token = sandbox.issueToken();
    const tampered = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const client = new ChipChat({ host: sandbox.url, token: tampered });
    const error = await rejectionOf(client.contacts.list({ organization: ORG }));
    expect(error.statusCode).toBe(401);
    expect(error.message).toBe('invalid signature');
  });

  it('answers 401 in the API error shape when the bearer token is missing', async () => {
    const res = await fetch(`${sandbox.url}/v2/contacts`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { status: 401, message: expect.any(String) } });
  });

  it('lets chipchat renew an expired token through POST /v2/auth/token and retry', async () => {
    sandbox.addContact({ organization: ORG, profile: { email: 'renew@example.com' } });
    const client = bot(sandbox.issueToken({ expiresInSec: -10 }));
    const renewed: string[] = [];
    client.on('token', (t) => renewed.push(t));

    const found = await client.contacts.list({ organization: ORG });

    expect(found).toHaveLength(1);
    expect(sandbox.tokenRefreshes).toBe(1);
    expect(sandbox.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/v2/contacts', 401],
      ['POST', '/v2/auth/token', 200],
      ['GET', '/v2/contacts', 200],
    ]);
    expect(sandbox.requests[1]?.body).toEqual({
      clientId: sandbox.botEmail,
      refreshToken: sandbox.refreshToken,
    });
    expect(renewed).toHaveLength(1);
    expect(client.auth.token).toBe(renewed[0]);
  });

  it('answers an expired token 403 "jwt expired" in 403 mode, as the API documents; other token problems stay 401', async () => {
    const documented = await startWeb1on1Sandbox({ organizationId: ORG, tokenExpiredStatus: 403 });
    try {
      const expired = await fetch(`${documented.url}/v2/contacts`, {
        headers: { authorization: `Bearer ${documented.issueToken({ expiresInSec: -10 })}` },
      });
      expect(expired.status).toBe(403);
      expect(await expired.json()).toEqual({
        error: { status: 403, name: 'ForbiddenError', message: 'jwt expired' },
      });
      // chipchat renews only on a 401, so it hands this 403 on as it is.
      const client = new ChipChat({
        host: documented.url,
        token: documented.issueToken({ expiresInSec: -10 }),
        refreshToken: documented.refreshToken,
        email: documented.botEmail,
      });
      const error = await rejectionOf(client.contacts.list({ organization: ORG }));
      expect([error.statusCode, error.message]).toEqual([403, 'jwt expired']);
      expect(documented.tokenRefreshes).toBe(0);
      const missing = await fetch(`${documented.url}/v2/contacts`);
      expect(missing.status).toBe(401);
    } finally {
      await documented.close();
    }
  });

  it('refuses a renewal for another clientId without a message chipchat would loop on', async () => {
    const res = await fetch(`${sandbox.url}/v2/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: 'someone@example.com', refreshToken: sandbox.refreshToken }),
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).not.toMatch(/jwt expired|invalid signature|invalid token/i);
    expect(sandbox.tokenRefreshes).toBe(0);
  });
});

describe('contacts', () => {
  it('lists with exact dot-path filters; a "+" sent by chipchat arrives as "+"', async () => {
    const wanted = sandbox.addContact({
      organization: ORG,
      profile: { email: 'jan@example.com', telephone: '+31612345678' },
    });
    sandbox.addContact({ organization: 'other-org', profile: { email: 'jan@example.com' } });
    sandbox.addContact({ organization: ORG, profile: { email: 'jan@example.com.au' } });
    const client = bot();

    const byEmail = await client.contacts.list({
      organization: ORG,
      'profile.email': 'jan@example.com',
    });
    const byPhone = await client.contacts.list({
      organization: ORG,
      'profile.telephone': '+31612345678',
    });
    const none = await client.contacts.list({
      organization: ORG,
      'profile.telephone': '31612345678',
    });

    expect(byEmail.map((c) => c.id)).toEqual([wanted.id]);
    expect(byPhone.map((c) => c.id)).toEqual([wanted.id]);
    expect(none).toHaveLength(0);
    expect(sandbox.requests[1]?.query).toEqual({
      organization: ORG,
      'profile.telephone': '+31612345678',
    });
  });

  it('applies limit and offset and ignores the other reserved parameters', async () => {
    for (let i = 0; i < 5; i += 1)
      sandbox.addContact({ organization: ORG, profile: { name: `c${i}` } });
    const client = bot();
    const page = await client.contacts.list({
      organization: ORG,
      limit: 2,
      offset: 1,
      sort: 'createdAt',
      select: 'profile',
    });
    expect(page.map((c) => (c.profile as { name: string }).name)).toEqual(['c1', 'c2']);
  });

  it('pages a list answer: Link rel="next" while more match than it holds, none on the last page', async () => {
    const paged = await startWeb1on1Sandbox({ organizationId: ORG, pageSize: 1 });
    try {
      for (let i = 0; i < 3; i += 1)
        paged.addContact({
          organization: ORG,
          profile: { email: 'twin@example.com', name: `t${i}` },
        });
      const headers = { authorization: `Bearer ${paged.issueToken()}` };
      const names: string[] = [];
      const links: Array<string | null> = [];
      let next: string | null =
        `${paged.url}/v2/contacts?organization=${ORG}&profile.email=twin%40example.com&limit=2`;
      while (next) {
        const res: Response = await fetch(next, { headers });
        const page = (await res.json()) as Array<{ profile: { name: string } }>;
        // The cap holds whatever `limit` asks for.
        expect(page).toHaveLength(1);
        expect(res.headers.get('x-total-count')).toBe('3');
        names.push(...page.map((c) => c.profile.name));
        const link = res.headers.get('link');
        links.push(link);
        next = link === null ? null : (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null);
      }
      expect(names).toEqual(['t0', 't1', 't2']);
      expect(links).toEqual([
        `<${paged.url}/v2/contacts?organization=${ORG}&profile.email=twin%40example.com&limit=2&offset=1>; rel="next"`,
        `<${paged.url}/v2/contacts?organization=${ORG}&profile.email=twin%40example.com&limit=2&offset=2>; rel="next"`,
        null,
      ]);
    } finally {
      await paged.close();
    }
  });

  it('without a page cap, a list answer holds what limit asks, with a Link only when more match', async () => {
    for (let i = 0; i < 3; i += 1) sandbox.addContact({ organization: ORG });
    const headers = { authorization: `Bearer ${sandbox.issueToken()}` };
    const all = await fetch(`${sandbox.url}/v2/contacts?organization=${ORG}`, { headers });
    expect((await all.json()) as unknown[]).toHaveLength(3);
    expect(all.headers.get('link')).toBeNull();
    const two = await fetch(`${sandbox.url}/v2/contacts?organization=${ORG}&limit=2`, { headers });
    expect((await two.json()) as unknown[]).toHaveLength(2);
    expect(two.headers.get('link')).toMatch(/offset=2>; rel="next"$/);
  });

  it('chipchat\'s list follows rel="next" only when given pagination; plainly it asks once', async () => {
    const paged = await startWeb1on1Sandbox({ organizationId: ORG, pageSize: 1 });
    try {
      for (let i = 0; i < 3; i += 1) paged.addContact({ organization: ORG });
      const token = paged.issueToken();
      const plain = new ChipChat({ host: paged.url, token });
      expect(await plain.contacts.list({ organization: ORG, limit: 2 })).toHaveLength(1);
      expect(paged.requests).toHaveLength(1);
      paged.clearRequests();
      const paginating = new ChipChat({ host: paged.url, token, pagination: { limit: 2 } });
      expect(await paginating.contacts.list({ organization: ORG })).toHaveLength(3);
      expect(paged.requests).toHaveLength(3);
    } finally {
      await paged.close();
    }
  });

  it('deletes a contact with DELETE /v2/contacts/:id', async () => {
    const stored = sandbox.addContact({ organization: ORG, profile: { name: 'Gone' } });
    const res = await fetch(`${sandbox.url}/v2/contacts/${stored.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${sandbox.issueToken()}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: stored.id });
    expect(sandbox.getContact(stored.id)).toBeUndefined();
    const error = await rejectionOf(bot().contacts.get(stored.id));
    expect(error.statusCode).toBe(404);
  });

  it('gets one contact, and rejects an unknown id with 404', async () => {
    const stored = sandbox.addContact({ organization: ORG, profile: { name: 'Ann' } });
    const client = bot();
    expect(stored.id).toMatch(/^[0-9a-f]{24}$/);
    expect(stored.conversation).toMatch(/^[0-9a-f]{24}$/);
    await expect(client.contacts.get(stored.id)).resolves.toMatchObject({
      id: stored.id,
      conversation: stored.conversation,
      profile: { name: 'Ann' },
    });
    const error = await rejectionOf(client.contacts.get('000000000000000000000000'));
    expect(error.statusCode).toBe(404);
    expect(error.message).toBe('Contact not found');
  });

  it('PATCH merges top-level fields but replaces nested objects and arrays', async () => {
    const stored = sandbox.addContact({
      organization: ORG,
      profile: { email: 'a@example.com', name: 'A' },
      links: [{ label: 'old', url: 'https://old.example/1' }],
      tags: ['x'],
    });
    const client = bot();

    const updated = await client.contacts.update(stored.id, {
      links: [{ label: 'new', url: 'https://new.example/2' }],
      profile: { name: 'B' },
    });

    expect(updated.links).toEqual([{ label: 'new', url: 'https://new.example/2' }]);
    expect(updated.profile).toEqual({ name: 'B' });
    expect(updated.tags).toEqual(['x']);
    expect(sandbox.getContact(stored.id)).toMatchObject({
      links: [{ label: 'new', url: 'https://new.example/2' }],
      profile: { name: 'B' },
      conversation: stored.conversation,
    });
    const missing = await rejectionOf(
      client.contacts.update('000000000000000000000000', { links: [] }),
    );
    expect(missing.statusCode).toBe(404);
  });

  it('creates a contact with POST /v2/contacts', async () => {
    const created = await bot().contacts.create({ profile: { name: 'New' } });
    expect(created).toMatchObject({ organization: ORG, profile: { name: 'New' }, links: [] });
    expect(sandbox.getContact(String(created.id))).toBeDefined();
  });

  it('answers malformed JSON with 400', async () => {
    const stored = sandbox.addContact({ organization: ORG });
    const res = await fetch(`${sandbox.url}/v2/contacts/${stored.id}`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${sandbox.issueToken()}`,
        'content-type': 'application/json',
      },
      body: '{"links": [',
    });
    expect(res.status).toBe(400);
    expect(sandbox.requests.at(-1)).toMatchObject({ status: 400, body: '{"links": [' });
  });
});

describe('faults', () => {
  const authed = () => ({ authorization: `Bearer ${sandbox.issueToken()}` });

  it('failNext answers the next N matching requests, then the normal answer', async () => {
    sandbox.failNext(2, { status: 503, method: 'GET' });
    sandbox.failNext(1, { status: 429, retryAfterSec: 7 });
    const post = await fetch(`${sandbox.url}/v2/contacts`, {
      method: 'POST',
      headers: { ...authed(), 'content-type': 'application/json' },
      body: JSON.stringify({ organization: ORG }),
    });
    // The POST skipped the GET-only failures and took the unfiltered 429.
    expect(post.status).toBe(429);
    expect(post.headers.get('retry-after')).toBe('7');
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      statuses.push((await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() })).status);
    }
    expect(statuses).toEqual([503, 503, 200]);
    expect(sandbox.requests.map((r) => r.status)).toEqual([429, 503, 503, 200]);
  });

  it('failNext applies to token renewal too', async () => {
    sandbox.failNext(1, { status: 502, method: 'POST' });
    const res = await fetch(`${sandbox.url}/v2/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: sandbox.botEmail, refreshToken: sandbox.refreshToken }),
    });
    expect(res.status).toBe(502);
    expect(sandbox.tokenRefreshes).toBe(0);
  });

  it('rateLimitFor answers 429 with Retry-After during the window only', async () => {
    sandbox.rateLimitFor(300, 3);
    const during = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect(during.status).toBe(429);
    expect(during.headers.get('retry-after')).toBe('3');
    await new Promise((r) => setTimeout(r, 350));
    const after = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect(after.status).toBe(200);
  });

  it('hangNext never answers, and close() ends the hanging socket quickly', async () => {
    sandbox.hangNext(1);
    const hanging = fetch(`${sandbox.url}/v2/contacts`, { headers: authed() }).then(
      (r) => r.status,
      (e: unknown) => e,
    );
    await waitFor(() => sandbox.requests.length === 1);
    const second = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect(second.status).toBe(200);
    expect(sandbox.requests[0]?.status).toBe(0);

    const started = performance.now();
    await sandbox.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await hanging).toBeInstanceOf(Error);
    expect(sandbox.requests[0]?.endedAt).toBeGreaterThan(0);
    sandbox = await startWeb1on1Sandbox(); // afterEach closes it
  });

  it('hangNext afterApply stores the PATCH and sends its webhook, then never answers', async () => {
    const hooks: Array<{ event: string; data: { contact: { id: string; links: unknown[] } } }> = [];
    const receiver = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        hooks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    const withHook = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `http://127.0.0.1:${port}/webhook`, secret: 's' },
    });
    try {
      const seeded = withHook.addContact({
        organization: ORG,
        profile: { email: 'h@example.com' },
      });
      const headers = {
        authorization: `Bearer ${withHook.issueToken()}`,
        'content-type': 'application/json',
      };
      const patch = (id: string, body: unknown) =>
        fetch(`${withHook.url}/v2/contacts/${id}`, {
          method: 'PATCH',
          headers,
          body: JSON.stringify(body),
        });
      // Over HTTP, as a sandbox in another process is told; a lower-case method fits too.
      const queued = await fetch(`${withHook.url}/_sandbox/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hangNext: { count: 2, method: 'patch', afterApply: true } }),
      });
      expect(await queued.json()).toMatchObject({ queuedHangs: 2 });

      const links = [{ label: 'DMS', url: 'https://dms/held' }];
      const held = patch(seeded.id, { links }).then(
        (r) => r.status,
        (e: unknown) => e,
      );
      await waitFor(() => withHook.getContact(seeded.id)?.links.length === 1);
      await waitFor(() => hooks.length === 1);
      expect(hooks[0]).toMatchObject({
        event: 'contact.update',
        data: { contact: { id: seeded.id, links } },
      });
      // A GET is not held, and sees the change; a PATCH the API refuses is answered as usual.
      const read = await fetch(`${withHook.url}/v2/contacts/${seeded.id}`, { headers });
      expect(await read.json()).toMatchObject({ links });
      expect((await patch('000000000000000000000000', { links })).status).toBe(404);
      expect(withHook.requests.map((r) => [r.method, r.status])).toEqual([
        ['PATCH', 0],
        ['GET', 200],
        ['PATCH', 404],
      ]);
      expect(withHook.requests[0]?.endedAt).toBe(0);

      const started = performance.now();
      await withHook.close();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(await held).toBeInstanceOf(Error);
      expect(withHook.requests[0]).toMatchObject({ status: 0, endedAt: expect.any(Number) });
      expect(withHook.requests[0]?.endedAt).toBeGreaterThan(0);
    } finally {
      await withHook.close();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('standing faults: errorRate, hangRate with an injected random, and latency', async () => {
    const draws = [0.1, 0.9, 0.9];
    sandbox.setFaults({ errorRate: 0.5, errorStatus: 502, random: () => draws.shift() ?? 0.9 });
    const first = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    const second = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect([first.status, second.status]).toEqual([502, 200]);

    sandbox.setFaults({ latencyMs: 150 });
    const started = performance.now();
    const slow = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect(slow.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    sandbox.setFaults({ hangRate: 1 });
    await expect(
      fetch(`${sandbox.url}/v2/contacts`, { headers: authed(), signal: AbortSignal.timeout(200) }),
    ).rejects.toThrow();
  });

  it('reset forgets contacts, requests and faults', async () => {
    sandbox.addContact({ organization: ORG });
    sandbox.failNext(5, { status: 500 });
    sandbox.setFaults({ errorRate: 1 });
    sandbox.reset();
    const res = await fetch(`${sandbox.url}/v2/contacts`, { headers: authed() });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual([]);
    expect(sandbox.requests).toHaveLength(1);
  });
});

describe('control endpoints', () => {
  it('adds and lists contacts, queues faults, shows requests, issues tokens and resets over HTTP', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${sandbox.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const created = await post('/_sandbox/contacts', {
      organization: ORG,
      profile: { email: 'ctl@example.com' },
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string };
    expect(sandbox.getContact(contact.id)).toMatchObject({ profile: { email: 'ctl@example.com' } });
    expect(await (await fetch(`${sandbox.url}/_sandbox/contacts`)).json()).toHaveLength(1);
    expect((await post('/_sandbox/contacts', { profile: {} })).status).toBe(400);

    const issued = (await (await post('/_sandbox/token', {})).json()) as { token: string };
    expect(new ChipChat({ host: sandbox.url, token: issued.token }).auth.organization).toBe(ORG);

    expect((await post('/_sandbox/faults', { failNext: { count: 1, status: 418 } })).status).toBe(
      200,
    );
    const headers = { authorization: `Bearer ${issued.token}` };
    expect((await fetch(`${sandbox.url}/v2/contacts`, { headers })).status).toBe(418);
    await post('/_sandbox/faults', { rateLimitFor: { ms: 10_000, retryAfterSec: 2 } });
    expect((await fetch(`${sandbox.url}/v2/contacts`, { headers })).status).toBe(429);
    const recorded = (await (await fetch(`${sandbox.url}/_sandbox/requests`)).json()) as unknown[];
    // Control calls are not recorded, only the two /v2 requests.
    expect(recorded).toHaveLength(2);
    const tail = await fetch(`${sandbox.url}/_sandbox/requests?from=1`);
    expect(tail.headers.get('x-total-count')).toBe('2');
    expect(((await tail.json()) as Array<{ status: number }>).map((r) => r.status)).toEqual([429]);

    await post('/_sandbox/reset', {});
    expect((await fetch(`${sandbox.url}/v2/contacts`, { headers })).status).toBe(200);
    expect(sandbox.listContacts()).toEqual([]);
  });
});

describe('webhooks', () => {
  it('signHubSignature matches a known-answer vector (openssl dgst -sha1 -hmac)', () => {
    expect(signHubSignature('{"event":"contact.update"}', "It's a secret")).toBe(
      'sha1=84d4d1096b685497463ea4c5ab15f077a79347ef',
    );
  });

  it('POSTs signed contact.update, contact.create and contact.delete in the documented envelope', async () => {
    const secret = 'webhook-secret';
    const received: Array<{ raw: string; signature: string | undefined }> = [];
    const receiver = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const signature = req.headers['x-hub-signature'];
        received.push({
          raw: Buffer.concat(chunks).toString('utf8'),
          signature: typeof signature === 'string' ? signature : undefined,
        });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as AddressInfo;
    const withHook = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: `http://127.0.0.1:${port}/webhook`, secret },
    });
    try {
      const seeded = withHook.addContact({
        organization: ORG,
        profile: { email: 'w@example.com' },
      });
      const client = new ChipChat({ host: withHook.url, token: withHook.issueToken() });
      await client.contacts.update(seeded.id, { links: [{ label: 'DMS', url: 'https://dms/1' }] });
      // One at a time: each is fire-and-forget, so their arrival order would otherwise be open.
      await waitFor(() => received.length === 1);
      await client.contacts.create({ organization: ORG, profile: { name: 'Created' } });
      await waitFor(() => received.length === 2);
      const deleted = await fetch(`${withHook.url}/v2/contacts/${seeded.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${withHook.issueToken()}` },
      });
      expect(deleted.status).toBe(200);
      await waitFor(() => received.length === 3);

      for (const delivery of received) {
        const expected = `sha1=${createHmac('sha1', secret).update(delivery.raw).digest('hex')}`;
        expect(delivery.signature).toBe(expected);
      }
      const events = received.map((d) => JSON.parse(d.raw));
      const api = `${withHook.url}/v2`;
      expect(events[0]).toEqual({
        id: expect.stringMatching(
          /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        ),
        event: 'contact.update',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        organization: ORG,
        activity: {
          '@context': 'https://www.w3.org/ns/activitystreams',
          type: 'Update',
          actor: {
            id: expect.stringMatching(new RegExp(`^${api}/users/[0-9a-f]{24}$`)),
            type: 'Person',
          },
          object: { id: `${api}/contacts/${seeded.id}`, type: 'Object' },
          published: events[0].timestamp,
          summary: expect.any(String),
        },
        data: {
          contact: expect.objectContaining({
            id: seeded.id,
            conversation: seeded.conversation,
            links: [{ label: 'DMS', url: 'https://dms/1' }],
          }),
          links: {
            organization: `${api}/organizations/${ORG}`,
            contact: `${api}/contacts/${seeded.id}`,
            conversation: `${api}/conversations/${seeded.conversation}`,
          },
        },
      });
      expect(events[1]).toMatchObject({
        event: 'contact.create',
        activity: { type: 'Create' },
        data: { contact: { profile: { name: 'Created' } } },
      });
      expect(events[2]).toMatchObject({
        event: 'contact.delete',
        activity: { type: 'Delete', object: { id: `${api}/contacts/${seeded.id}` } },
        data: { contact: { id: seeded.id, profile: { email: 'w@example.com' } } },
      });
      // Each passes the schemas the ingress checks, as sent.
      for (const event of events) {
        expect(WebhookEnvelope.parse(event)).toEqual(event);
        expect(WebhookDataLinks.safeParse(event.data.links).success).toBe(true);
        expect(WebhookContact.safeParse(event.data.contact).success).toBe(true);
      }
      // Seeding with addContact() sent nothing.
      expect(received).toHaveLength(3);
    } finally {
      await withHook.close();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it('swallows webhook delivery errors: the API answer does not depend on them', async () => {
    const withHook = await startWeb1on1Sandbox({
      organizationId: ORG,
      webhook: { url: 'http://127.0.0.1:9/unreachable', secret: 's' },
    });
    try {
      const seeded = withHook.addContact({ organization: ORG });
      const client = new ChipChat({ host: withHook.url, token: withHook.issueToken() });
      await expect(client.contacts.update(seeded.id, { links: [] })).resolves.toMatchObject({
        id: seeded.id,
      });
    } finally {
      await withHook.close();
    }
  });
});
