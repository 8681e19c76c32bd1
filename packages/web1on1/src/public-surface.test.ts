import { expect, it } from 'vitest';

it('exports exactly the public surface', async () => {
  expect(Object.keys(await import('./index.ts')).sort()).toMatchInlineSnapshot(`
    [
      "FIND_CONTACTS_LIMIT",
      "createRedisTokenStore",
      "createWeb1on1Budget",
      "createWeb1on1Client",
      "toClientError",
      "withBudgetShare",
    ]
  `);
});
