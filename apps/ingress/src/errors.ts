/**
 * Every error the ingress answers with, in one place: `{ error: code, message, details? }`.
 * `errors.test.ts` keeps this list and the README's error table (`### Error codes`) in step.
 */
export const API_ERRORS = {
  bad_request: { status: 400, message: 'Bad request.' },
  invalid_json: { status: 400, message: 'The body is not valid JSON.' },
  invalid_body: { status: 400, message: 'The body does not match the schema.' },
  forbidden_key: {
    status: 400,
    message: 'The body contains a forbidden key (__proto__, constructor or prototype).',
  },
  timestamp_out_of_window: {
    status: 400,
    message:
      "The event's timestamp is more than 24 hours old or more than 5 minutes in the future.",
  },
  unauthorized: { status: 401, message: 'Missing or unknown API key.' },
  invalid_signature: { status: 401, message: 'Missing or wrong X-Hub-Signature.' },
  forbidden: { status: 403, message: 'Verification request refused.' },
  not_found: { status: 404, message: 'Not found.' },
  payload_too_large: { status: 413, message: 'The body is larger than this endpoint accepts.' },
  request_timeout: { status: 408, message: 'The request took too long to arrive.' },
  unsupported_media_type: { status: 415, message: 'Only application/json bodies are accepted.' },
  rate_limited: { status: 429, message: 'Too many requests for this API key; retry later.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  internal_error: { status: 500, message: 'Internal error.' },
  queue_unavailable: { status: 503, message: 'The queue is unavailable; retry later.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Thrown by handlers and hooks; the error handler turns it into the JSON body. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly details: unknown[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    code: ApiErrorCode,
    {
      message,
      details,
      headers = {},
      cause,
    }: {
      message?: string;
      details?: unknown[];
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(message ?? API_ERRORS[code].message, { cause });
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = API_ERRORS[code].status;
    this.details = details;
    this.headers = headers;
  }
}

export function errorBody(code: ApiErrorCode, message?: string, details?: unknown[]) {
  return {
    error: code,
    message: message ?? API_ERRORS[code].message,
    ...(details === undefined ? {} : { details }),
  };
}
