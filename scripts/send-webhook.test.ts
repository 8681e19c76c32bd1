import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WebhookContact, WebhookEnvelope } from '@contact-linker/contracts';
import { signHubSignature } from '@contact-linker/testkit';
import { describe, expect, it } from 'vitest';
import { DEMO_CONTACTS, DEMO_WEBHOOK_CONTACT } from './dev/demo.ts';
import { buildEnvelope, parseSendArgs, sendWebhook, USAGE } from './send-webhook.ts';

const SCRIPT = fileURLToPath(new URL('./send-webhook.ts', import.meta.url));
const AT = new Date('2026-03-04T05:06:07.089Z');

/** Runs the script as `pnpm webhook:send` does: its own Node process. */
async function runScript(args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [SCRIPT, ...args], {
      env: { PATH: process.env.PATH ?? '' },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the envelope', () => {
  it("by default is Web1on1's documented envelope of a contact.update of the dev sandbox's demo contact", () => {
    const envelope = buildEnvelope(parseSendArgs([], {}, AT)!);
    expect(envelope).toEqual({
      id: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ),
      event: 'contact.update',
      timestamp: '2026-03-04T05:06:07.089Z',
      organization: 'demo-dealer',
      activity: {
        '@context': 'https://www.w3.org/ns/activitystreams',
        type: 'Update',
        actor: {
          id: expect.stringMatching(/^http:\/\/127\.0\.0\.1:4100\/v2\/users\/[0-9a-f]{24}$/),
          type: 'Person',
        },
        object: {
          id: `http://127.0.0.1:4100/v2/contacts/${DEMO_WEBHOOK_CONTACT.id}`,
          type: 'Object',
        },
        published: '2026-03-04T05:06:07.089Z',
        summary: 'User Demo Agent updated contact Sam Smit (05:06:07)',
      },
      data: {
        contact: {
          id: DEMO_WEBHOOK_CONTACT.id,
          organization: 'demo-dealer',
          conversation: DEMO_WEBHOOK_CONTACT.conversation,
          profile: {
            email: 'sam@example.com',
            telephone: '+31201234567',
            name: 'Sam Smit (05:06:07)',
          },
        },
        links: {
          organization: 'http://127.0.0.1:4100/v2/organizations/demo-dealer',
          contact: `http://127.0.0.1:4100/v2/contacts/${DEMO_WEBHOOK_CONTACT.id}`,
          conversation: `http://127.0.0.1:4100/v2/conversations/${DEMO_WEBHOOK_CONTACT.conversation}`,
        },
      },
    });
    // What the ingress reads of it.
    expect(WebhookEnvelope.safeParse(envelope).success).toBe(true);
    expect(WebhookContact.safeParse(envelope.data.contact).success).toBe(true);
  });

  it('names a contact that pnpm dev seeds into its Web1on1 sandbox', () => {
    expect(DEMO_CONTACTS.map((c) => c.id)).toContain(DEMO_WEBHOOK_CONTACT.id);
    expect(DEMO_WEBHOOK_CONTACT.id).toMatch(/^[0-9a-f]{24}$/);
    expect(DEMO_WEBHOOK_CONTACT.conversation).toMatch(/^[0-9a-f]{24}$/);
  });

  it('carries data.user for user events, and the options given', () => {
    const options = parseSendArgs(
      [
        '--event',
        'user.create',
        '--user',
        'u-1',
        '--organization',
        'org-9',
        '--api-url',
        'https://api.example/',
      ],
      {},
      AT,
    )!;
    const envelope = buildEnvelope(options);
    expect(envelope.activity).toMatchObject({
      type: 'Create',
      object: { id: 'https://api.example/v2/users/u-1' },
    });
    expect(envelope.data).toEqual({
      user: expect.objectContaining({ id: 'u-1', organization: 'org-9' }),
      links: {
        organization: 'https://api.example/v2/organizations/org-9',
        user: 'https://api.example/v2/users/u-1',
      },
    });
  });
});

describe('the command line', () => {
  it('--help prints the usage and exits 0', async () => {
    const run = await runScript(['--help']);
    expect(run).toEqual({ code: 0, stdout: `${USAGE}\n`, stderr: '' });
    expect(USAGE).toContain('--contact <id>');
    expect((await runScript(['-h'])).stdout).toBe(`${USAGE}\n`);
  });

  it('a bad option is one line on stderr and exit code 2, no stack trace', async () => {
    for (const args of [['--bogus'], ['--url'], ['stray'], ['--url', 'not a url']]) {
      const run = await runScript(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/^webhook:send: .+ \(see --help\)\n$/);
    }
  });

  it('an ingress that is not there is one line and exit code 1', async () => {
    const run = await runScript(['--url', 'http://127.0.0.1:9/webhook']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^webhook:send: could not reach http:\/\/127\.0\.0\.1:9\/webhook: .+\n$/,
    );
  });

  it('posts the envelope signed over its exact bytes and prints the answer', async () => {
    const received: Array<{ signature: unknown; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ signature: req.headers['x-hub-signature'], body });
        res.setHeader('content-type', 'application/json');
        res.end('{"status":"queued"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const out: string[] = [];
      const code = await sendWebhook(
        ['--url', `http://127.0.0.1:${port}/webhook`, '--id', 'evt-1'],
        { WEB1ON1_WEBHOOK_SECRET: 'from-env' },
        { out: (line) => out.push(line), err: (line) => out.push(`ERR ${line}`) },
      );
      expect({ code, out }).toEqual({ code: 0, out: ['200 {"status":"queued"}'] });
      const [request] = received;
      expect(request?.signature).toBe(signHubSignature(request?.body ?? '', 'from-env'));
      expect(JSON.parse(request?.body ?? '')).toMatchObject({
        id: 'evt-1',
        event: 'contact.update',
      });
    } finally {
      server.close();
    }
  });

  it('--print shows the signature and the body and sends nothing', async () => {
    const out: string[] = [];
    const code = await sendWebhook(
      ['--print', '--url', 'http://127.0.0.1:9/x', '--secret', 's'],
      {},
      {
        out: (line) => out.push(line),
        err: (line) => out.push(`ERR ${line}`),
      },
    );
    expect(code).toBe(0);
    expect(out[0]).toMatch(/^X-Hub-Signature: sha1=[0-9a-f]{40}$/);
    expect(JSON.parse(out[1] ?? '')).toMatchObject({ event: 'contact.update' });
  });
});
