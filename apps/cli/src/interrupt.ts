/**
 * Ctrl-C for a long-running command: the first SIGINT aborts the returned signal so the command can
 * finish cleanly (close Redis, write its checkpoint); a second one exits at once with 130, for when
 * the clean finish itself hangs (e.g. on a Redis that went away). The handler exists only between
 * `interruptible()` and `dispose()`, so importing this module installs nothing.
 */
export function interruptible(onFirst?: () => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) process.exit(130);
    onFirst?.();
    controller.abort();
  };
  process.on('SIGINT', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
    },
  };
}
