// Each line re-exports one part of the kit; the file named owns its exports.
export * from './app-processes.ts';
export * from './child-process.ts';
export * from './dms-sandbox.ts';
export * from './job-states.ts';
export * from './otlp-receiver.ts';
export * from './prometheus.ts';
export * from './redis.ts';
export * from './redis-cluster.ts';
export * from './sliding-window.ts';
export * from './wait-for.ts';
export * from './web1on1-sandbox.ts';
export * from './web1on1-sandbox-process.ts';
