export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export { type OpsServer, type OpsServerOptions, startOpsServer } from './ops-server.ts';
export { loadConfigOrExit, onShutdown } from './process.ts';
export { maskPii, REDACT_PATHS } from './redact.ts';
