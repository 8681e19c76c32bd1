import { type ReceivedSpan, startOtlpReceiver } from '@contact-linker/testkit';
import { expect, it } from 'vitest';
import { formatTrace, printTraces } from './trace-tree.ts';

const T = 'a25758a2c0ffee00c0ffee00c0ffee00';
let clock = 1_000;
function span(
  spanId: string,
  parentSpanId: string | undefined,
  service: string,
  name: string,
  ms: number,
  extra: Partial<ReceivedSpan> = {},
): ReceivedSpan {
  clock += 1;
  return {
    traceId: T,
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name,
    kind: 'internal',
    startMs: clock,
    endMs: clock + ms,
    attributes: {},
    events: [],
    links: [],
    status: { code: 'unset' },
    serviceName: `contact-linker-${service}`,
    resource: {},
    scope: 'test',
    ...extra,
  };
}

it('prints a trace as an indented tree: service, name (client spans with their path), duration', () => {
  const spans = [
    span('s1', undefined, 'ingress', 'POST /updatecontact', 22.8, { kind: 'server' }),
    span('s2', 's1', 'ingress', 'create link-contact', 7.7, { kind: 'producer' }),
    span('s3', 's2', 'worker', 'process link-contact', 180.4, { kind: 'consumer' }),
    span('s4', 's3', 'worker', 'GET', 15.5, {
      kind: 'client',
      attributes: { 'url.full': 'http://127.0.0.1:4010/v2/contacts' },
    }),
    span('s5', 's3', 'worker', 'PATCH', 16.1, {
      kind: 'client',
      attributes: { 'url.full': 'http://127.0.0.1:4010/v2/contacts/5e1d' },
    }),
    // Exported out of order, and one whose parent never arrived.
    span('s6', 'gone', 'worker', 'orphan', 1),
  ].reverse();
  expect(formatTrace(spans)).toBe(
    [
      `trace a25758a2…  6 spans, 182 ms`,
      '  ingress  POST /updatecontact  22.8 ms',
      '  ingress    create link-contact  7.7 ms',
      '  worker       process link-contact  180 ms',
      '  worker         GET /v2/contacts  15.5 ms',
      '  worker         PATCH /v2/contacts/5e1d  16.1 ms',
      '  worker   orphan  1.0 ms',
    ].join('\n'),
  );
});

it('says how many spans a span links to (a batch, the events it carried)', () => {
  const send = span('b1', undefined, 'ingress', 'send link-contact', 6.2, {
    links: [
      { traceId: 'x', spanId: 'y', attributes: {} },
      { traceId: 'z', spanId: 'w', attributes: {} },
    ],
  });
  expect(formatTrace([send])).toContain('send link-contact  6.2 ms  (links to 2)');
});

it('prints each trace the receiver collects once no span of it arrived for a while', async () => {
  const receiver = await startOtlpReceiver();
  const printed: string[] = [];
  const stop = printTraces(receiver, (text) => printed.push(text));
  try {
    const body = {
      resourceSpans: [
        {
          resource: {
            attributes: [{ key: 'service.name', value: { stringValue: 'contact-linker-ingress' } }],
          },
          scopeSpans: [
            {
              scope: { name: 'test' },
              spans: [
                {
                  traceId: T,
                  spanId: '00000000000000a1',
                  name: 'POST /webhook',
                  kind: 2,
                  startTimeUnixNano: '1000000000',
                  endTimeUnixNano: '1004000000',
                },
              ],
            },
          ],
        },
      ],
    };
    await fetch(`${receiver.endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(printed).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(printed).toEqual([
      '\ntrace a25758a2…  1 spans, 4 ms\n  ingress  POST /webhook  4.0 ms\n',
    ]);
  } finally {
    stop();
    await receiver.close();
  }
});
