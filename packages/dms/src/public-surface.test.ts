import { expect, it } from 'vitest';

it('exports exactly the DMS client surface', async () => {
  expect(Object.keys(await import('./index.ts'))).toMatchInlineSnapshot(`
    [
      "createDmsNotifier",
      "toClientError",
    ]
  `);
});
