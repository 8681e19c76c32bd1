import { createProgram } from '../src/program.ts';

/** Runs one CLI command in-process against `redisUrl`/`prefix`, capturing its output. */
export async function runCli(
  args: string[],
  { redisUrl, prefix }: { redisUrl: string; prefix: string },
) {
  const out: string[] = [];
  const err: string[] = [];
  const previousExitCode = process.exitCode;
  process.exitCode = undefined;
  const program = createProgram({
    loadConfig: () => ({
      redisUrl,
      queuePrefix: prefix,
      defaultPhoneCountry: 'NL',
      jobAttempts: 3,
    }),
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  program.exitOverride();
  let thrown: unknown;
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    thrown = error;
  }
  const exitCode = process.exitCode ?? (thrown ? 1 : 0);
  process.exitCode = previousExitCode;
  return { out: out.join('\n'), err: err.join('\n'), exitCode, thrown };
}
