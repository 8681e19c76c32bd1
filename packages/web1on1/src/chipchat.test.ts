/** How `createChipChat` sets chipchat's got up, observed on a loopback server rather than in got's options. */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { createChipChat } from './chipchat.ts';

const TOKEN = [
  Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url'),
  Buffer.from('{"_id":"u1","scope":["bot"]}').toString('base64url'),
  'sig',
].join('.');
const noHooks = { beforeRequest: [], afterResponse: [], beforeError: [] };

it('reuses one keep-alive connection and sends a GET once even when it fails', async () => {
  let connections = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    requests += 1;
    const status = req.url?.endsWith('/fail') ? 503 : 200;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(status === 200 ? { id: 'x' } : { error: { message: 'down' } }));
  });
  server.on('connection', () => {
    connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const chip = createChipChat({
      host: `http://127.0.0.1:${port}`,
      token: TOKEN,
      timeoutMs: 1000,
      hooks: noHooks,
    });
    await chip.contacts.get('a');
    await chip.contacts.get('b');
    await expect(chip.contacts.get('fail')).rejects.toMatchObject({ statusCode: 503 });
    expect(requests).toBe(3);
    expect(connections).toBe(1);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

it('refuses a token that is not a JWT', () => {
  expect(() =>
    createChipChat({
      host: 'http://127.0.0.1:1',
      token: 'opaque',
      timeoutMs: 1000,
      hooks: noHooks,
    }),
  ).toThrow('The Web1on1 token is not a JWT, so chipchat cannot use it');
});
