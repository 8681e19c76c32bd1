import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { API_ERRORS, type ApiErrorCode, errorBody } from './errors.ts';

/**
 * Fastify options for the edges of HTTP that never reach a route: slow or broken clients,
 * malformed URLs, over-long path parameters. Each still answers from the error catalog.
 */

/** A slow client is cut off: 10 s without a byte, 30 s for a whole request. */
export const TIMEOUTS = { connectionTimeout: 10_000, requestTimeout: 30_000 } as const;

/** Malformed requests answered by Node's HTTP parser, before Fastify sees a request at all. */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ApiErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'request_timeout'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'headers_too_large'
        : 'bad_request';
  const { status } = API_ERRORS[code];
  const body = JSON.stringify(errorBody(code));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** URLs the router cannot even match: a bad percent-encoding, or an absurdly long parameter. */
export function frameworkErrors(
  error: FastifyError,
  _request: FastifyRequest,
  reply: FastifyReply,
) {
  // No route can match such a path (job ids are UUIDs), so a too-long parameter is a plain 404.
  const code: ApiErrorCode =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'not_found' : 'bad_request';
  return reply.code(API_ERRORS[code].status).send(errorBody(code));
}

/**
 * What a request log line says about the request: method and path, never the query string (DMS
 * integrations have been seen to put emails and phone numbers there) or headers.
 */
export function requestSummary(req: { method?: string; url?: string; ip?: string }) {
  return { method: req.method, path: req.url?.split('?')[0], remoteAddress: req.ip };
}
