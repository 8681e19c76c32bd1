import { describe, expect, it } from 'vitest';
import { parsePrometheusText, sampleValue } from './prometheus.ts';

describe('parsePrometheusText', () => {
  it('reads NaN and infinities in any case, as Prometheus does (prom-client writes Nan)', () => {
    const samples = parsePrometheusText(
      ['# TYPE a gauge', 'a Nan', 'b{le="+Inf"} 3', 'c +Inf', 'd -inf', 'e 1.5e-3'].join('\n'),
    );
    expect(Number.isNaN(sampleValue(samples, 'a'))).toBe(true);
    expect(sampleValue(samples, 'b', { le: '+Inf' })).toBe(3);
    expect(sampleValue(samples, 'c')).toBe(Number.POSITIVE_INFINITY);
    expect(sampleValue(samples, 'd')).toBe(Number.NEGATIVE_INFINITY);
    expect(sampleValue(samples, 'e')).toBe(0.0015);
  });

  it('throws on a line that is not Prometheus text, naming it', () => {
    expect(() => parsePrometheusText('a 1\nb nope')).toThrow(
      'line 2 is not Prometheus text: b nope',
    );
  });
});
