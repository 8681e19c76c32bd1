import { describe, expect, it } from 'vitest';
import { renderSeedSummary } from '../src/commands/seed.ts';
import type { SeedResult } from '../src/seed/run-seed.ts';

const base: SeedResult = {
  accepted: 10,
  rejected: 0,
  rejects: [],
  enqueued: 10,
  deduplicated: 0,
  interrupted: false,
  lastLine: 11,
  seedId: 'abc',
};

describe('renderSeedSummary', () => {
  it('starts with the counts', () => {
    expect(renderSeedSummary(base)).toBe('accepted 10, rejected 0');
  });

  it('lists the first rejects with their lines, then how many more and where to find them', () => {
    const rejects = Array.from({ length: 3 }, (_, i) => ({ line: i + 2, reason: `bad ${i}` }));
    const result = {
      ...base,
      rejected: 5,
      rejects: [...rejects, { line: 9, lastLine: 11, reason: 'CSV: Quote Not Closed' }],
    };
    expect(renderSeedSummary(result, { shown: 4 }).split('\n')).toEqual([
      'accepted 10, rejected 5',
      'rejected:',
      '  line 2: bad 0',
      '  line 3: bad 1',
      '  line 4: bad 2',
      '  lines 9-11: CSV: Quote Not Closed',
      '  … and 1 more (--rejects <file> writes them all)',
    ]);
    expect(renderSeedSummary(result, { shown: 4, rejectsFile: 'r.ndjson' })).toContain(
      '  … and 1 more, all in r.ndjson',
    );
  });

  it('says when it resumed, had nothing left, folded duplicates, or was interrupted', () => {
    expect(renderSeedSummary({ ...base, resumedAfterLine: 6, enqueued: 5 })).toContain(
      'resumed after line 6: records up to it were queued by an earlier run',
    );
    expect(renderSeedSummary({ ...base, resumedAfterLine: 11, enqueued: 0 })).toContain(
      'nothing new to queue: an earlier run got through line 11',
    );
    expect(renderSeedSummary({ ...base, deduplicated: 2 })).toContain(
      '2 accepted record(s) matched a contact already queued with the same content',
    );
    expect(renderSeedSummary({ ...base, interrupted: true, lastLine: 6 })).toContain(
      'interrupted after line 6, which is checkpointed: run the same command again to continue',
    );
  });
});
