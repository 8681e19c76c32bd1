export { createDmsNotifier, type DmsNotifier, type DmsNotifierOptions } from './notifier.ts';
export {
  type DmsHttpFailure,
  type ToClientErrorContext,
  toClientError,
} from './to-client-error.ts';
