/**
 * The process harness resolves the entrypoints from its own location, so moving the file breaks them
 * silently until an e2e run; this pins that they resolve.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ENTRYPOINT, REPO_ROOT } from './app-processes.ts';

it.each(Object.entries(ENTRYPOINT))('finds the %s entrypoint under REPO_ROOT', (_name, path) => {
  expect(existsSync(join(REPO_ROOT, 'pnpm-workspace.yaml'))).toBe(true);
  expect(existsSync(join(REPO_ROOT, path))).toBe(true);
});
