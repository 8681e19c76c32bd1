import { expect, it } from 'vitest';

it('exports exactly the link memory surface', async () => {
  expect(Object.keys(await import('./index.ts')).sort()).toMatchInlineSnapshot(`
    [
      "contentOf",
      "countLinkMemory",
      "createLinkMemory",
    ]
  `);
});
