import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatLogLine, pipeFormatted } from './log-format.ts';

const line = (entry: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: '2026-01-02T03:04:05.678Z', service: 'worker', ...entry });

describe('formatLogLine', () => {
  it('turns a pino line into time, service, level, message and the other fields', () => {
    expect(
      formatLogLine(line({ msg: 'worker started', port: 9464, notify: true, note: 'a b' })),
    ).toBe('03:04:05.678 worker  info  worker started port=9464 notify=true note="a b"');
  });

  it('shows a request as method and path, a response as its status and time', () => {
    expect(
      formatLogLine(
        line({
          service: 'ingress',
          msg: 'incoming request',
          reqId: 'req-1',
          req: { method: 'POST', path: '/updatecontact', remoteAddress: '127.0.0.1' },
        }),
      ),
    ).toBe('03:04:05.678 ingress info  incoming request reqId=req-1 req=POST /updatecontact');
    expect(
      formatLogLine(
        line({
          service: 'ingress',
          msg: 'request completed',
          res: { statusCode: 202 },
          responseTime: 17.26,
        }),
      ),
    ).toBe('03:04:05.678 ingress info  request completed res=202 responseTime=17.3ms');
  });

  it('puts an error message in the line and, from level error on, its stack below', () => {
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x (y.ts:1:2)' };
    expect(formatLogLine(line({ level: 40, msg: 'retrying', err }))).toBe(
      '03:04:05.678 worker  WARN  retrying err=boom',
    );
    expect(formatLogLine(line({ level: 50, msg: 'failed', err }))).toBe(
      '03:04:05.678 worker  ERROR failed err=boom\n    Error: boom\n    at x (y.ts:1:2)',
    );
  });

  it('leaves anything that is not a pino line as it is', () => {
    for (const text of ['plain text', '{"not":"pino"}', '[1,2]', '{broken', '']) {
      expect(formatLogLine(text)).toBe(text);
    }
  });
});

it('pipeFormatted formats a stream line by line, a line split across chunks included', async () => {
  const stream = new PassThrough();
  const written: string[] = [];
  pipeFormatted(stream, (text) => written.push(text));
  const first = line({ msg: 'one' });
  stream.write(`${first.slice(0, 20)}`);
  stream.write(`${first.slice(20)}\nnot json\n`);
  stream.end(line({ msg: 'two' }));
  await new Promise((resolve) => setImmediate(resolve));
  expect(written).toEqual([
    '03:04:05.678 worker  info  one\n',
    'not json\n',
    '03:04:05.678 worker  info  two\n',
  ]);
});
