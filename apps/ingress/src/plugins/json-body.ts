import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';
import { mediaType, parseJsonStrict } from '../json-input.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes no body, so a POST without one needs no content type. */
    bodyless?: boolean;
  }
}

/**
 * Only `application/json` bodies, parsed strictly. The check runs in `preParsing`, after
 * authentication (`onRequest`), so an unauthenticated caller learns nothing about the body rules,
 * and it also catches bodyless POSTs that Fastify would otherwise hand to the route.
 */
async function jsonBody(app: FastifyInstance) {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonStrict(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addHook('preParsing', async (request) => {
    if (request.method !== 'POST') return;
    // Action endpoints (an admin replay) take no body at all; everything with a body is JSON.
    const bodyless =
      request.headers['transfer-encoding'] === undefined &&
      (request.headers['content-length'] ?? '0') === '0';
    if (bodyless && request.routeOptions.config.bodyless === true) return;
    if (mediaType(request.headers['content-type']) !== 'application/json') {
      throw new ApiError('unsupported_media_type');
    }
  });
}

export default fp(jsonBody, { name: 'contact-linker-json-body', fastify: '5.x' });
