/**
 * `pnpm webhook:send`: posts one signed Web1on1 webhook event to an ingress, in Web1on1's documented
 * envelope and signed as Web1on1 signs it (`X-Hub-Signature: sha1=<HMAC-SHA1 of the body>`). Its
 * defaults send a `contact.update` of the demo contact Sam Smit to the ingress of `pnpm dev`.
 * `--help` lists the options.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { signHubSignature, web1on1Envelope } from '@contact-linker/testkit';
import { DEMO_AGENT, DEMO_ORGANIZATION, DEMO_WEBHOOK_CONTACT, DEV_DEFAULTS } from './dev/demo.ts';

const DEFAULT_URL = `http://127.0.0.1:${DEV_DEFAULTS.ingressPort}/webhook`;
const DEFAULT_API_URL = `http://127.0.0.1:${DEV_DEFAULTS.web1on1Port}`;

export const USAGE = `Usage: ./scripts/pnpm webhook:send [options]

Posts one signed Web1on1 webhook event, in Web1on1's documented envelope ({id, event, timestamp,
organization, activity, data: {contact | user, links}}), and prints the answer's status and body.
The defaults send a contact.update of the demo contact Sam Smit to the ingress \`pnpm dev\` starts.

Options:
  --url <url>            where to post (default ${DEFAULT_URL})
  --secret <secret>      WEB1ON1_WEBHOOK_SECRET of that ingress (default: $WEB1ON1_WEBHOOK_SECRET,
                         else ${DEV_DEFAULTS.webhookSecret})
  --event <event>        contact.create, contact.update, user.create, user.update, or any other
                         Web1on1 event name (default contact.update)
  --id <id>              the event id (default a new UUID; send one twice to see "duplicate")
  --organization <id>    (default ${DEMO_ORGANIZATION})
  --contact <id>         contact events: the contact (default ${DEMO_WEBHOOK_CONTACT.id}, Sam Smit)
  --conversation <id>    contact events: its conversation (default ${DEMO_WEBHOOK_CONTACT.conversation})
  --email <email>        contact events: profile.email (default ${DEMO_WEBHOOK_CONTACT.profile.email})
  --telephone <phone>    contact events: profile.telephone (default ${DEMO_WEBHOOK_CONTACT.profile.telephone})
  --name <name>          contact events: profile.name (default "${DEMO_WEBHOOK_CONTACT.profile.name} (<time>)",
                         new each time, so the DMS hears of every send)
  --user <id>            user events: the user, also the activity's actor (default ${DEMO_AGENT.id})
  --api-url <url>        the Web1on1 API the event's links point at (default ${DEFAULT_API_URL},
                         the Web1on1 sandbox of \`pnpm dev\`)
  --print                print the signed body and its X-Hub-Signature instead of sending
  -h, --help             show this help

User events are answered "ignored" unless the ingress runs with SYNC_USERS=true.

Examples:
  ./scripts/pnpm webhook:send
  ./scripts/pnpm webhook:send --event contact.create --email new@example.com --name "New Person"
  ./scripts/pnpm webhook:send --url https://linker.example.com/webhook --secret "$SECRET" --print`;

const OPTIONS = {
  url: { type: 'string' },
  secret: { type: 'string' },
  event: { type: 'string' },
  id: { type: 'string' },
  organization: { type: 'string' },
  contact: { type: 'string' },
  conversation: { type: 'string' },
  email: { type: 'string' },
  telephone: { type: 'string' },
  name: { type: 'string' },
  user: { type: 'string' },
  'api-url': { type: 'string' },
  print: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A mistake on the command line; its message is printed as one line, with a pointer to --help. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface SendOptions {
  url: string;
  secret: string;
  event: string;
  id: string;
  organization: string;
  contact: string;
  conversation: string;
  email: string;
  telephone: string;
  name: string;
  user: string;
  apiUrl: string;
  print: boolean;
  /** When the event happened (its `timestamp` and the activity's `published`). */
  at: Date;
}

/**
 * Reads the command line; `undefined` means `--help` was asked for.
 * @throws UsageError for an unknown option, a missing value or a stray argument.
 */
export function parseSendArgs(
  args: string[],
  env: Record<string, string | undefined> = {},
  at = new Date(),
): SendOptions | undefined {
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return undefined;
  for (const key of ['url', 'api-url'] as const) {
    const value = values[key];
    if (value !== undefined && !URL.canParse(value)) {
      throw new UsageError(`--${key} must be a URL, got "${value}"`);
    }
  }
  return {
    url: values.url ?? DEFAULT_URL,
    secret: values.secret ?? (env.WEB1ON1_WEBHOOK_SECRET || DEV_DEFAULTS.webhookSecret),
    event: values.event ?? 'contact.update',
    id: values.id ?? randomUUID(),
    organization: values.organization ?? DEMO_ORGANIZATION,
    contact: values.contact ?? DEMO_WEBHOOK_CONTACT.id,
    conversation: values.conversation ?? DEMO_WEBHOOK_CONTACT.conversation,
    email: values.email ?? DEMO_WEBHOOK_CONTACT.profile.email,
    telephone: values.telephone ?? DEMO_WEBHOOK_CONTACT.profile.telephone,
    name: values.name ?? `${DEMO_WEBHOOK_CONTACT.profile.name} (${at.toISOString().slice(11, 19)})`,
    user: values.user ?? DEMO_AGENT.id,
    apiUrl: (values['api-url'] ?? DEFAULT_API_URL).replace(/\/+$/, ''),
    print: values.print ?? false,
    at,
  };
}

/**
 * The event in Web1on1's documented envelope (see `web1on1Envelope`): `data` holds the resource
 * (`contact` or `user`) and `links`, the API URLs of the resources involved keyed by resource name.
 */
export function buildEnvelope(o: SendOptions) {
  const api = `${o.apiUrl}/v2`;
  const isUser = o.event.split('.')[0] === 'user';
  const data = isUser
    ? {
        user: {
          id: o.user,
          organization: o.organization,
          email: `agent+${o.user}@${o.organization}.example`,
          displayName: DEMO_AGENT.name,
          role: 'agent',
        },
        links: {
          organization: `${api}/organizations/${o.organization}`,
          user: `${api}/users/${o.user}`,
        },
      }
    : {
        contact: {
          id: o.contact,
          organization: o.organization,
          conversation: o.conversation,
          profile: { email: o.email, telephone: o.telephone, name: o.name },
        },
        links: {
          organization: `${api}/organizations/${o.organization}`,
          contact: `${api}/contacts/${o.contact}`,
          conversation: `${api}/conversations/${o.conversation}`,
        },
      };
  return web1on1Envelope({
    id: o.id,
    event: o.event,
    at: o.at,
    organization: o.organization,
    apiBase: api,
    actorId: o.user,
    object: isUser ? `${api}/users/${o.user}` : `${api}/contacts/${o.contact}`,
    who: `User ${DEMO_AGENT.name}`,
    what: isUser ? `user ${DEMO_AGENT.name}` : `contact ${o.name}`,
    data,
  });
}

/** Runs the command; returns the exit code (0 sent and answered 2xx, 1 otherwise, 2 bad usage). */
export async function sendWebhook(
  args: string[],
  env: Record<string, string | undefined>,
  io: { out: (line: string) => void; err: (line: string) => void },
): Promise<number> {
  let options: SendOptions | undefined;
  try {
    options = parseSendArgs(args, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`webhook:send: ${error.message} (see --help)`);
    return 2;
  }
  if (!options) {
    io.out(USAGE);
    return 0;
  }
  const body = JSON.stringify(buildEnvelope(options));
  // Web1on1's scheme (the test checks it against the test kit's `signHubSignature`); computed here so
  // the script starts without loading the test kit.
  const signature = signHubSignature(body, options.secret);
  if (options.print) {
    io.out(`X-Hub-Signature: ${signature}`);
    io.out(JSON.stringify(JSON.parse(body), null, 2));
    return 0;
  }
  try {
    const res = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature': signature },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    io.out(`${res.status} ${await res.text()}`);
    return res.ok ? 0 : 1;
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    io.err(
      `webhook:send: could not reach ${options.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}` +
        ' (is `./scripts/pnpm dev` running?)',
    );
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = await sendWebhook(process.argv.slice(2), process.env, {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
  });
}
