export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export {
  createIngressMetrics,
  createWorkerMetrics,
  type IngressMetrics,
  type QueueDepthSource,
  type RedisReadySource,
  type WorkerMetrics,
} from './metrics.ts';
export { type OpsServer, type OpsServerOptions, startOpsServer } from './ops-server.ts';
export { loadConfigOrExit, onShutdown } from './process.ts';
export { maskDeep, maskPii, REDACT_PATHS } from './redact.ts';
export {
  type MessageCreation,
  startTracing,
  TRACING_OFF,
  type Tracing,
  type TracingEnv,
  type TracingOptions,
  tracingWanted,
} from './tracing.ts';
