import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { API_ERRORS, ApiError, type ApiErrorCode, errorBody } from '../errors.ts';

/** Fastify's own error codes that are the client's fault, mapped to the catalog. */
const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported_media_type',
};

/**
 * The one producer of error bodies. Client mistakes never become a 5xx: anything unknown with a 4xx
 * status keeps its status, and only a genuine fault of ours answers 500.
 */
async function errorHandler(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      if (error.statusCode >= 500) request.log.warn({ err: error.cause ?? error }, error.message);
      return reply
        .code(error.statusCode)
        .headers(error.headers)
        .send(errorBody(error.code, error.message, error.details));
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const details = error.validation.map((v) => ({
        path: v.instancePath || '/',
        message: v.message,
      }));
      return reply.code(400).send(errorBody('invalid_body', undefined, details));
    }
    const mapped = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (mapped) return reply.code(API_ERRORS[mapped].status).send(errorBody(mapped));
    if (error instanceof SyntaxError) return reply.code(400).send(errorBody('invalid_json'));
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(400).send(errorBody('bad_request', error.message));
    }
    request.log.error({ err: error }, 'unhandled error');
    return reply.code(500).send(errorBody('internal_error'));
  });

  const notFound = (_request: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send(errorBody('not_found'));
  app.setNotFoundHandler(notFound);
  // Routing decides before the body is looked at. Fastify runs a 404 through the whole lifecycle,
  // body parsing included, so without this `POST /nope` with `text/plain` met the JSON-only rule
  // and answered 415 for a route that does not exist.
  // A callback hook, not an async one: it runs on every request and needs no promise.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.is404) notFound(request, reply);
    else done();
  });
}

export default fp(errorHandler, { name: 'contact-linker-error-handler', fastify: '5.x' });
