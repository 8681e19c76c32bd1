import { loadCliConfig } from '@contact-linker/config';
import { loadConfigOrExit } from '@contact-linker/observability';
import { createProgram } from './program.ts';

const program = createProgram({
  loadConfig: () => loadConfigOrExit('cli', () => loadCliConfig(process.env)),
});
await program.parseAsync(process.argv);
