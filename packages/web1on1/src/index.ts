export {
  type BudgetShare,
  createWeb1on1Budget,
  type Web1on1Budget,
  type Web1on1BudgetOptions,
  withBudgetShare,
} from './budget.ts';
export {
  createWeb1on1Client,
  FIND_CONTACTS_LIMIT,
  type FoundContacts,
  type Web1on1Client,
  type Web1on1ClientOptions,
  type Web1on1Operation,
  type Web1on1RequestEvent,
  type Web1on1TokenStore,
  type Web1on1Tokens,
} from './client.ts';
export { toClientError } from './errors.ts';
export { createRedisTokenStore } from './token-store.ts';
