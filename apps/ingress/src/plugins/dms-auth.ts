import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** `onRequest` hook for DMS routes: `Authorization: Bearer <one of DMS_API_KEYS>`. */
    dmsAuth: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** Index of the API key that authenticated the request (never the key itself). */
    apiKeyId?: string;
  }
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Compares SHA-256 digests of the presented key and every configured key with `timingSafeEqual`,
 * without stopping at the first match, so neither the key's length nor which key matched leaks
 * through timing.
 */
function createKeyMatcher(keys: readonly string[]) {
  const digests = keys.map(digest);
  return (presented: string): number => {
    const candidate = digest(presented);
    let match = -1;
    digests.forEach((d, i) => {
      if (timingSafeEqual(d, candidate) && match === -1) match = i;
    });
    return match;
  };
}

async function dmsAuth(app: FastifyInstance, { keys }: { keys: readonly string[] }) {
  const match = createKeyMatcher(keys);
  app.decorateRequest('apiKeyId', undefined);
  app.decorate('dmsAuth', async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const index = token ? match(token) : -1;
    if (index === -1) {
      throw new ApiError('unauthorized', { headers: { 'www-authenticate': 'Bearer' } });
    }
    request.apiKeyId = `key-${index}`;
  });
}

export default fp(dmsAuth, { name: 'contact-linker-dms-auth', fastify: '5.x' });
