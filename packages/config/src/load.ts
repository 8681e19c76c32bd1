import type { z } from 'zod';
import { ConfigError } from './config-error.ts';

export type Env = Record<string, string | undefined>;

/**
 * Parses `env` with `schema` and returns the typed config, or throws a ConfigError with one line per
 * problem, each naming the variable, so an operator can fix them all at once.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Env,
  crossChecks: (env: Env) => string[] = () => [],
): z.output<S> {
  const result = schema.safeParse(env);
  // Cross-field rules run on the raw values, so they are reported together with field errors
  // instead of only after every field is valid.
  const problems = crossChecks(env);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const variable = issue.path.length > 0 ? issue.path.join('.') : '(environment)';
      problems.push(`${variable}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError([...new Set(problems)]);
  return result.data;
}

/** A variable counts as set when it holds something other than white space. */
export const isSet = (env: Env, name: string): boolean => (env[name]?.trim() ?? '') !== '';

/** `a` and `b` go together: both or neither. */
export function pairedVariables(env: Env, a: string, b: string, message: string): string[] {
  if (isSet(env, a) === isSet(env, b)) return [];
  return [`${isSet(env, a) ? b : a}: ${message}`];
}
