export { CliConfig, loadCliConfig } from './cli.ts';
export { ConfigError } from './config-error.ts';
export { IngressConfig, loadIngressConfig } from './ingress.ts';
export type { Env } from './load.ts';
export { loadWorkerConfig, WorkerConfig } from './worker.ts';
