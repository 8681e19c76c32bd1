/** Load generation from the bench process: autocannon (closed loop) and a paced poster (open loop). */
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { API_KEY } from './apps.ts';

export interface LoadResult {
  /** 2xx answers per second. */
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
  durationS: number;
}

export interface LoadOptions {
  url: string;
  path: string;
  connections: number;
  durationS: number;
  /** Stop after this many requests instead of after `durationS`. */
  amount?: number;
  /** The body of the n-th request (n counts from 0 over the whole call). */
  body: (n: number) => string;
}

/** One autocannon run: POSTs with distinct bodies from `body(n)`, with the DMS headers. */
export async function runLoad({
  url,
  path,
  connections,
  durationS,
  amount,
  body,
}: LoadOptions): Promise<LoadResult> {
  let n = 0;
  const result = await autocannon({
    url,
    connections,
    pipelining: 1,
    ...(amount === undefined ? { duration: durationS } : { amount }),
    timeout: 10,
    // autocannon checks its stop flag once per sample; 100 ms keeps short runs short.
    sampleInt: 100,
    requests: [
      {
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        setupRequest: (request) => ({ ...request, body: body(n++) }),
      },
    ],
  });
  const ok = result['2xx'];
  return {
    rps: ok / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    durationS: result.duration,
  };
}

export interface PacedPost {
  i: number;
  sentAt: number;
  status: number;
  answeredAt: number;
}

/**
 * Open-loop load: POSTs `body(i)` to `url` at `ratePerS` for `durationS`, each on schedule whether or
 * not earlier ones were answered. `onTick(elapsedMs)` runs between sends (for fault switching).
 * Resolves when every request was answered (status 0: network error).
 */
export async function postPaced({
  url,
  ratePerS,
  durationS,
  body,
  onTick,
}: {
  url: string;
  ratePerS: number;
  durationS: number;
  body: (i: number) => string;
  onTick?: (elapsedMs: number) => void;
}): Promise<PacedPost[]> {
  const total = Math.round(ratePerS * durationS);
  const intervalMs = 1000 / ratePerS;
  const posts: PacedPost[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    for (let now = performance.now(); now < due; now = performance.now()) {
      onTick?.(now - start);
      await sleep(Math.min(due - now, 5));
    }
    onTick?.(performance.now() - start);
    const post: PacedPost = { i, sentAt: Date.now(), status: 0, answeredAt: 0 };
    posts.push(post);
    pending.push(
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
        body: body(i),
        signal: AbortSignal.timeout(10_000),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          post.status = res.status;
          post.answeredAt = Date.now();
        },
        () => {
          post.answeredAt = Date.now();
        },
      ),
    );
  }
  await Promise.all(pending);
  return posts;
}

/**
 * `POST /updatecontacts` of `bodies` (DMS contacts as JSON), `chunk` items per request, one request
 * after the other; returns the items the ingress accepted.
 */
export async function postBulk(url: string, bodies: string[], chunk = 500): Promise<number> {
  let accepted = 0;
  for (let from = 0; from < bodies.length; from += chunk) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: `{"contacts":[${bodies.slice(from, from + chunk).join(',')}]}`,
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await res.json()) as { accepted?: number };
    if (res.status !== 202) throw new Error(`/updatecontacts answered ${res.status}`);
    accepted += answer.accepted ?? 0;
  }
  return accepted;
}
