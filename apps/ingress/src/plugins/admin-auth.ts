import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { errorBody } from '../errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** `onRequest` hook for `/admin/*`: HTTP basic auth with ADMIN_USERNAME / ADMIN_PASSWORD. */
    adminAuth: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Where the credentials come from, never what they are. */
const ADMIN_CREDENTIALS_HINT =
  'Admin credentials required: HTTP basic auth with the ADMIN_USERNAME and ADMIN_PASSWORD this ingress runs with (`pnpm dev` prints its own at start).';

/**
 * Basic auth compared in constant time: digests of the presented and expected `user:password` are
 * compared with `timingSafeEqual`, so neither length nor content leaks through timing.
 */
async function adminAuth(
  app: FastifyInstance,
  { username, password }: { username: string; password: string },
) {
  const expected = digest(`${username}:${password}`);
  app.decorate('adminAuth', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
    const presented = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    if (timingSafeEqual(digest(presented), expected)) return undefined;
    // Answered here rather than thrown: Bull Board's routes carry their own error handler, which
    // would drop the challenge header and reshape the body.
    return reply
      .code(401)
      .header('www-authenticate', 'Basic realm="contact-linker admin", charset="UTF-8"')
      .send(errorBody('unauthorized', ADMIN_CREDENTIALS_HINT));
  });
}

export default fp(adminAuth, { name: 'contact-linker-admin-auth', fastify: '5.x' });
