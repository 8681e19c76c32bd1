import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route takes no body, so a POST without one needs no content type. */
    bodyless?: boolean;
  }
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Finds a key that could pollute prototypes once the body is merged or spread somewhere. The
 * contract rejects these keys anywhere in a body, so the whole tree is walked, iteratively so a
 * deeply nested body cannot overflow the stack.
 */
export function findForbiddenKey(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object') continue;
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
      continue;
    }
    for (const key of Object.keys(current)) {
      if (FORBIDDEN_KEYS.has(key)) return key;
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
  return undefined;
}

/** `JSON.parse` plus the forbidden-key rule, with catalog errors. */
export function parseJsonStrict(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new ApiError('invalid_json', { cause });
  }
  const key = findForbiddenKey(parsed);
  if (key !== undefined) {
    throw new ApiError('forbidden_key', { details: [{ key }] });
  }
  return parsed;
}

/** The media type of a request, lower-cased and without parameters. */
export function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
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
