import { createHash } from 'node:crypto';
import {
  ContactWebhookEvents,
  type NotificationType,
  type NotifyDmsJob,
  OrganizationId,
  UserWebhookEvents,
  WebhookContact,
  WebhookEnvelope,
  WebhookUser,
} from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { verifyHubSignature } from '../plugins/hub-signature.ts';
import { parseJsonStrict } from '../plugins/json-body.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const MAX_CHALLENGE = 1024;

const EVENT_TO_NOTIFICATION = {
  'contact.create': 'contact.created',
  'contact.update': 'contact.updated',
  'user.create': 'user.created',
  'user.update': 'user.updated',
} as const satisfies Record<string, NotificationType>;

function invalid(message: string, issues: z.core.$ZodIssue[] = []): ApiError {
  return new ApiError('invalid_body', {
    message,
    details: issues.map((i) => ({ path: `/${i.path.join('/')}`, message: i.message })),
  });
}

function occurredAt(timestamp: string | number | undefined, now = new Date()): string {
  if (timestamp === undefined) return now.toISOString();
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? now.toISOString() : date.toISOString();
}

/** Builds the notify-dms job for a webhook, or `undefined` for events this service ignores. */
export function toNotifyJob(
  envelope: WebhookEnvelope,
  eventId: string,
  syncUsers: boolean,
): NotifyDmsJob | undefined {
  const event = envelope.event;
  const base = { webhookId: eventId, occurredAt: occurredAt(envelope.timestamp) };
  if ((ContactWebhookEvents as readonly string[]).includes(event)) {
    const parsed = WebhookContact.safeParse(envelope.data?.contact);
    if (!parsed.success) throw invalid('data.contact is invalid or has no id', parsed.error.issues);
    const contact = parsed.data;
    const organization = OrganizationId.safeParse(contact.organization ?? envelope.organization);
    if (!organization.success) throw invalid('organization is missing or invalid');
    return {
      ...base,
      type: EVENT_TO_NOTIFICATION[event as (typeof ContactWebhookEvents)[number]],
      organization: organization.data,
      contact: {
        id: contact.id,
        conversation: contact.conversation ?? null,
        profile: {
          email: contact.profile?.email ?? null,
          telephone: contact.profile?.telephone ?? null,
          name: contact.profile?.name ?? null,
        },
      },
    };
  }
  if (syncUsers && (UserWebhookEvents as readonly string[]).includes(event)) {
    const parsed = WebhookUser.safeParse(envelope.data?.user);
    if (!parsed.success) throw invalid('data.user is invalid or has no id', parsed.error.issues);
    const user = parsed.data;
    const organization = OrganizationId.safeParse(user.organization ?? envelope.organization);
    if (!organization.success) throw invalid('organization is missing or invalid');
    return {
      ...base,
      type: EVENT_TO_NOTIFICATION[event as (typeof UserWebhookEvents)[number]],
      organization: organization.data,
      user: {
        id: user.id,
        email: user.email ?? null,
        name: user.name ?? user.displayName ?? null,
        ...(user.role ? { role: user.role } : {}),
      },
    };
  }
  return undefined;
}

/**
 * Web1on1 bot webhooks. Encapsulated so it can keep the raw body: the signature covers the exact
 * bytes, so the body is verified first and only then parsed.
 */
export const webhookRoutes: FastifyPluginAsyncZod<{ secret: string; syncUsers: boolean }> = async (
  app,
  { secret, syncUsers },
) => {
  app.decorateRequest('rawBody', undefined);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    done(null, body);
  });

  app.get(
    '/webhook',
    {
      schema: {
        summary: 'Web1on1 webhook verification',
        querystring: z.object({ type: z.string().optional(), challenge: z.string().optional() }),
      },
    },
    async (request, reply) => {
      const { type, challenge } = request.query;
      if (type !== 'subscribe' || !challenge || challenge.length > MAX_CHALLENGE) {
        throw new ApiError('forbidden');
      }
      return reply
        .type('text/plain; charset=utf-8')
        .header('x-content-type-options', 'nosniff')
        .send(challenge);
    },
  );

  app.post(
    '/webhook',
    {
      bodyLimit: WEBHOOK_BODY_LIMIT,
      preValidation: async (request) => {
        const raw = request.rawBody ?? '';
        if (!verifyHubSignature(raw, request.headers['x-hub-signature'], secret)) {
          throw new ApiError('invalid_signature');
        }
        // Unknown until the schema below validates it, which Fastify does right after this hook.
        request.body = parseJsonStrict(raw) as never;
      },
      schema: {
        security: [{ hubSignature: [] }],
        summary: 'Web1on1 bot webhook events',
        body: WebhookEnvelope,
        response: { 200: z.object({ status: z.enum(['queued', 'ignored', 'duplicate']) }) },
      },
    },
    async (request) => {
      const envelope = request.body;
      // Web1on1 events carry an id; one without gets the digest of its bytes, so an identical
      // resend is still recognised.
      const eventId =
        envelope.id ??
        createHash('sha256')
          .update(request.rawBody ?? '')
          .digest('base64url');
      const job = toNotifyJob(envelope, eventId, syncUsers);
      if (!job) return { status: 'ignored' as const };
      const { duplicate } = await app.producer.enqueueNotification(job, eventId);
      return { status: duplicate ? ('duplicate' as const) : ('queued' as const) };
    },
  );
};
