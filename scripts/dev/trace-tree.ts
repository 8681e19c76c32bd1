/**
 * `pnpm dev --traces`: the spans both processes export to the test kit's OTLP receiver, shown as one
 * compact tree per trace once it has gone quiet, so a newcomer sees the path an event takes.
 */
import type { OtlpReceiver, ReceivedSpan } from '@contact-linker/testkit';

/** A trace counts as complete once no span of it arrived for this long. */
const QUIET_MS = 1_500;

const serviceOf = (span: ReceivedSpan) => span.serviceName.replace(/^contact-linker-/, '');

/** The span's name; an HTTP client span (named by its method only) gets its URL's path too. */
function labelOf(span: ReceivedSpan): string {
  const url = span.attributes['url.full'];
  if (span.kind !== 'client' || typeof url !== 'string') return span.name;
  try {
    return `${span.name} ${new URL(url).pathname}`;
  } catch {
    return span.name;
  }
}

function durationOf(span: ReceivedSpan): string {
  const ms = span.endMs - span.startMs;
  return ms >= 100 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`;
}

/**
 * One trace as text: a head line, then each span as `service  name  duration` under its parent,
 * children in start order. Spans whose parent is not among them (a caller's, or one not exported)
 * start at the left. A span with links says how many (a batch names the events it carried).
 */
export function formatTrace(spans: readonly ReceivedSpan[]): string {
  const ids = new Set(spans.map((span) => span.spanId));
  const children = new Map<string | undefined, ReceivedSpan[]>();
  for (const span of [...spans].sort((a, b) => a.startMs - b.startMs)) {
    const parent = span.parentSpanId && ids.has(span.parentSpanId) ? span.parentSpanId : undefined;
    children.set(parent, [...(children.get(parent) ?? []), span]);
  }
  const roots = children.get(undefined) ?? [];
  const width = Math.max(...spans.map(serviceOf).map((s) => s.length));
  const lines: string[] = [];
  const walk = (span: ReceivedSpan, depth: number) => {
    const links = span.links.length > 0 ? `  (links to ${span.links.length})` : '';
    lines.push(
      `  ${serviceOf(span).padEnd(width)}  ${'  '.repeat(depth)}${labelOf(span)}  ${durationOf(span)}${links}`,
    );
    for (const child of children.get(span.spanId) ?? []) walk(child, depth + 1);
  };
  for (const root of roots) walk(root, 0);
  const start = Math.min(...spans.map((s) => s.startMs));
  const end = Math.max(...spans.map((s) => s.endMs));
  const head = `trace ${spans[0]?.traceId.slice(0, 8) ?? '?'}…  ${spans.length} spans, ${Math.round(end - start)} ms`;
  return [head, ...lines].join('\n');
}

/** Prints each trace `receiver` collects once it has gone quiet; returns the stop function. */
export function printTraces(receiver: OtlpReceiver, print: (text: string) => void): () => void {
  const pending = new Map<string, { spans: ReceivedSpan[]; timer: NodeJS.Timeout }>();
  const flush = (traceId: string) => {
    const trace = pending.get(traceId);
    pending.delete(traceId);
    if (trace) print(`\n${formatTrace(trace.spans)}\n`);
  };
  const unsubscribe = receiver.onSpans((spans) => {
    for (const span of spans) {
      const trace = pending.get(span.traceId);
      if (trace) clearTimeout(trace.timer);
      const entry = {
        spans: [...(trace?.spans ?? []), span],
        timer: setTimeout(() => flush(span.traceId), QUIET_MS),
      };
      pending.set(span.traceId, entry);
    }
  });
  return () => {
    unsubscribe();
    for (const traceId of [...pending.keys()]) {
      clearTimeout(pending.get(traceId)?.timer);
      flush(traceId);
    }
  };
}
