import { type DmsNotification, PermanentError } from '@contact-linker/contracts';
import { createSigner } from './sign.ts';
import { toClientError } from './to-client-error.ts';

export interface DmsNotifierOptions {
  /** Where notifications are POSTed (`DMS_NOTIFY_URL`); http or https. */
  url: string;
  /** Standard Webhooks signing secret, `whsec_` + base64 (`DMS_NOTIFY_SECRET`). */
  secret: string;
  /**
   * Abort a delivery that has not completed after this long (connect, answer and reading the answer);
   * the abort becomes a `TransientError`.
   * @defaultValue 10_000
   */
  timeoutMs?: number;
  /** @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
  /** Wall clock in ms, for `webhook-timestamp` and HTTP-date `Retry-After`. @defaultValue Date.now */
  now?: () => number;
  /**
   * Called once per request with the answer's status (`'error'` for timeouts and network errors) and
   * its duration, for metrics. Durations come from `performance.now()`, not from `now`. Exceptions it
   * throws are ignored, so metrics can never fail a delivery.
   */
  onRequest?: (e: { status: number | 'error'; durationMs: number }) => void;
}

export interface DmsNotifier {
  /**
   * Delivers one notification. Resolves with the 2xx status; otherwise rejects with a
   * `PermanentError`, `RateLimitedError` or `TransientError` (see `toClientError`).
   * `webhookId` is the event's fixed id: pass the same one on every retry so the DMS can drop copies.
   */
  send(webhookId: string, notification: DmsNotification): Promise<{ status: number }>;
}

/**
 * Answers are read and thrown away so keep-alive sockets get reused (undici keeps a socket busy while
 * an unread body is larger than its buffers); past this, dropping the socket is cheaper than reading on.
 */
const MAX_DRAIN_BYTES = 1024 * 1024;
/** Visible ASCII only: anything else is not a valid header value, so retrying could never help. */
const WEBHOOK_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * The DMS webhook client: POSTs a notification as JSON with Standard Webhooks headers, never follows a
 * redirect, and turns every failure into a retry class in one place (`toClientError`).
 */
export function createDmsNotifier(opts: DmsNotifierOptions): DmsNotifier {
  const url = new URL(opts.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`DMS notify URL must be http or https, not ${url.protocol}`);
  }
  const target = url.href;
  const sign = createSigner(opts.secret);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const now = opts.now ?? Date.now;

  return {
    async send(webhookId, notification) {
      if (!WEBHOOK_ID.test(webhookId)) {
        throw new PermanentError('webhook id must be 1-200 visible ASCII characters');
      }
      // Signed and sent as the same string: re-serialising in between could change the bytes.
      const body = JSON.stringify(notification);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'contact-linker',
        ...sign(webhookId, Math.floor(now() / 1000), body),
      };
      const started = performance.now();
      const report = (status: number | 'error') => {
        try {
          opts.onRequest?.({ status, durationMs: performance.now() - started });
        } catch {
          // metrics must not decide whether a notification was delivered
        }
      };
      // One signal for the whole exchange, so a DMS that sends headers and then stalls is cut off too.
      const signal = AbortSignal.timeout(timeoutMs);
      let response: Response;
      try {
        response = await fetchImpl(target, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal,
        });
      } catch (error) {
        report('error');
        throw toClientError(error, { timeoutMs });
      }
      await drain(response);
      report(response.status);
      if (response.ok) return { status: response.status };
      throw toClientError(response, { timeoutMs, now: now() });
    },
  };
}

/**
 * Reads the answer to its end (up to `MAX_DRAIN_BYTES`) so undici can put the socket back in its pool.
 * A body that fails or stalls until the timeout does not change the outcome: the status is known.
 */
async function drain(response: Response): Promise<void> {
  const body = response.body;
  if (!body) return;
  const reader = body.getReader();
  let read = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
      if (read > MAX_DRAIN_BYTES) break;
    }
  } catch {
    // aborted or reset: undici has already dropped the socket
  }
  await reader.cancel().catch(() => {});
}
