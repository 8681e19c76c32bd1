export {
  contentOf,
  countLinkMemory,
  createLinkMemory,
  type LinkMemory,
  type LinkMemoryOptions,
  type ObservedContact,
  type RememberedLink,
  type WaitingContact,
} from './link-memory.ts';
