/** When did each DMS contact's link become visible in the sandbox? From its request log. */
import type { RecordedRequest, Web1on1Sandbox } from '@contact-linker/testkit';
import { linkUrlFor } from './data.ts';

/** The sandbox's request log: the sandbox itself, or `{ requests }` read from one in its own process. */
export type RequestLog = { readonly requests: readonly RecordedRequest[] };

/** Link URL → `endedAt` of the first successful PATCH whose `links` carried it. */
export function linkTimes(sandbox: RequestLog): Map<string, number> {
  const times = new Map<string, number>();
  for (const request of sandbox.requests) {
    if (request.method !== 'PATCH' || request.status !== 200) continue;
    const links = (request.body as { links?: Array<{ url?: unknown }> } | undefined)?.links;
    if (!Array.isArray(links)) continue;
    for (const link of links) {
      if (typeof link.url !== 'string') continue;
      const seen = times.get(link.url);
      if (seen === undefined || request.endedAt < seen) times.set(link.url, request.endedAt);
    }
  }
  return times;
}

/** How many of `ids` are linked (their link URL is on their sandbox contact), right now. */
export function countLinked(
  sandbox: Web1on1Sandbox,
  contactIds: string[],
  dmsIds: string[],
): number {
  let linked = 0;
  dmsIds.forEach((dmsId, i) => {
    const contact = sandbox.getContact(contactIds[i]!);
    const url = linkUrlFor(dmsId);
    if (contact?.links.some((l) => l.url === url)) linked += 1;
  });
  return linked;
}

/**
 * Stored email → `startedAt` of the first list request that searched it: when the job of the DMS
 * contact with that email first reached Web1on1 (its first request spent from the budget).
 */
export function firstLookupTimes(sandbox: RequestLog): Map<string, number> {
  const times = new Map<string, number>();
  for (const request of sandbox.requests) {
    if (request.method !== 'GET' || request.path !== '/v2/contacts') continue;
    const email = request.query['profile.email'];
    if (email === undefined) continue;
    const seen = times.get(email);
    if (seen === undefined || request.startedAt < seen) times.set(email, request.startedAt);
  }
  return times;
}
