import { findForbiddenKey } from '@contact-linker/contracts';
import { ApiError } from './errors.ts';

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
