import type { z } from 'zod';

/**
 * Keys refused anywhere in a body (contract): they could pollute prototypes once a parsed body is
 * merged or spread somewhere. The ingress and the CLI's NDJSON seed reader both apply this set.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/**
 * The first forbidden key anywhere in a parsed JSON value, walked iteratively so a deeply nested
 * body cannot overflow the stack.
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

/** One line for all problems of a value, e.g. `id: must be 1-128 characters …; email: Invalid email`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) =>
      issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message,
    )
    .join('; ');
}
