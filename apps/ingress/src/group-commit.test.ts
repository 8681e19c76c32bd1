import { describe, expect, it } from 'vitest';
import { createGroupCommit } from './group-commit.ts';

describe('createGroupCommit', () => {
  it('writes concurrent calls in one flush and gives each its own result', async () => {
    const flushes: number[][] = [];
    const commit = createGroupCommit(async (items: number[]) => {
      flushes.push(items);
      return items.map((i) => i * 10);
    });
    const results = await Promise.all([1, 2, 3].map((i) => commit(i)));
    expect(results).toEqual([10, 20, 30]);
    expect(flushes).toEqual([[1, 2, 3]]);
  });

  it('starts a new batch for calls made after a flush began', async () => {
    const flushes: number[][] = [];
    const commit = createGroupCommit(async (items: number[]) => {
      flushes.push(items);
      return items;
    });
    await Promise.all([commit(1), commit(2)]);
    await commit(3);
    expect(flushes).toEqual([[1, 2], [3]]);
  });

  it('flushes early at maxBatch', async () => {
    const flushes: number[][] = [];
    const commit = createGroupCommit(
      async (items: number[]) => {
        flushes.push(items);
        return items;
      },
      { maxBatch: 2 },
    );
    await Promise.all([1, 2, 3, 4, 5].map((i) => commit(i)));
    expect(flushes).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails every caller of a failed batch, and only those', async () => {
    let fail = true;
    const commit = createGroupCommit(async (items: number[]) => {
      if (fail) throw new Error('redis down');
      return items;
    });
    const first = await Promise.allSettled([commit(1), commit(2)]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await commit(3)).toBe(3);
  });
});
