import { createHash } from 'node:crypto';
import { UserWebhookEvents, WebhookEnvelope } from '@contact-linker/contracts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { WebhookEventEnqueue } from '../enqueue/webhook-event.ts';
import { ApiError } from '../errors.ts';
import { checkEventTime } from '../event-window.ts';
import { verifyHubSignature } from '../hub-signature.ts';
import { parseJsonStrict } from '../json-input.ts';
import { isOneOf, toNotifyJob } from '../notify-job.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: string;
  }
}

const WEBHOOK_BODY_LIMIT = 1024 * 1024;
const MAX_CHALLENGE = 1024;

export interface WebhookRoutesOptions {
  /** `WEB1ON1_WEBHOOK_SECRET`, the HMAC key of `X-Hub-Signature`. */
  secret: string;
  /** `SYNC_USERS`: user events are forwarded too. */
  syncUsers: boolean;
  /** Enqueues an event's notify-dms job, once per event id. */
  enqueue: WebhookEventEnqueue;
  /** Wall clock in ms, against which an event's `timestamp` is checked. @defaultValue Date.now */
  now?: () => number;
}

/**
 * Web1on1 bot webhooks. Encapsulated so it can keep the raw body: the signature covers the exact
 * bytes, so the body is verified first and only then parsed.
 */
export const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (
  app,
  { secret, syncUsers, enqueue, now = Date.now },
) => {
  /** Whether this process has said why user events are ignored; once is enough. */
  let userSyncHinted = false;
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
      // Before anything else: a replayed event is refused whatever it is, and nothing is enqueued.
      checkEventTime(envelope.timestamp, now());
      // Web1on1 events carry an id; one without gets the digest of its bytes, so an identical
      // resend is still recognised.
      const eventId =
        envelope.id ??
        createHash('sha256')
          .update(request.rawBody ?? '')
          .digest('base64url');
      const job = toNotifyJob(envelope, eventId, syncUsers);
      if (!job) {
        if (!syncUsers && !userSyncHinted && isOneOf(UserWebhookEvents, envelope.event)) {
          userSyncHinted = true;
          request.log.info(
            { event: envelope.event },
            'user events are answered "ignored" while SYNC_USERS is off; set SYNC_USERS=true to forward them to the DMS (said once)',
          );
        }
        return { status: 'ignored' as const };
      }
      const { duplicate } = await enqueue(job, eventId);
      return { status: duplicate ? ('duplicate' as const) : ('queued' as const) };
    },
  );
};
