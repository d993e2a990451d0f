import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ItemKnnModel } from '../../src/models/retrieval/itemknn.js';
import { SmallRng, timelinesFromArrays } from '../../src/models/retrieval/types.js';
import { ItemKnnGenerator } from '../../src/serving/generators.js';
import type { RequestContext } from '../../src/funnel/types.js';

describe('ItemKnnGenerator', () => {
  it('sums the recency-weighted neighbour scores of the last items, as a brute-force merge does', async () => {
    // 400 users viewing items of one of 8 clusters of 250 (2,000 items): dense neighbour lists.
    const rng = new SmallRng(5);
    const users: number[] = [];
    const items: number[] = [];
    for (let u = 0; u < 400; u++) {
      const c = rng.int(8);
      for (let e = 0; e < 25; e++) {
        users.push(u);
        items.push(c * 250 + rng.int(250));
      }
    }
    const knn = new ItemKnnModel();
    await knn.fit(timelinesFromArrays({ userIdx: users, itemIdx: items, numItems: 2000 }), { similarity: 'cosine', k: 100 });
    for (const [lastN, k] of [[5, 100], [3, 40], [8, 300]]) {
      const gen = new ItemKnnGenerator('knn', knn, lastN);
      for (let q = 0; q < 20; q++) {
        const history = Int32Array.from({ length: 1 + rng.int(12) }, () => rng.int(2000));
        const exclude = new Set<number>(Array.from({ length: 30 }, () => rng.int(2000)));
        const allow = q % 2 ? (i: number) => i % 7 !== 0 : undefined;
        // an availability mask on a third of the queries (items past its end are out too)
        const mask = q % 3 === 0 ? Uint8Array.from({ length: 1900 }, (_, i) => (i % 5 === 2 ? 0 : 1)) : undefined;
        const ctx: RequestContext = { history, k: 10, scene: 's', now: 0, exclude, ...(allow ? { allow } : {}), ...(mask ? { mask } : {}), debug: false };
        const got = gen.generate(ctx, k);
        // Brute force: a Map in order of first appearance, then best first (ties: first seen).
        const sum = new Map<number, number>();
        for (let p = 0; p < Math.min(lastN, history.length); p++) {
          const nb = knn.neighboursOf(history[p]);
          for (let r = 0; r < Math.min(k, nb.items.length); r++) {
            const j = nb.items[r];
            if (exclude.has(j) || (allow && !allow(j)) || (mask && mask[j] !== 1)) continue;
            sum.set(j, (sum.get(j) ?? 0) + nb.scores[r] / (1 + p));
          }
        }
        const want = [...sum.entries()].map(([item, s], order) => ({ item, s: Math.fround(s), order }));
        want.sort((a, b) => b.s - a.s || a.order - b.order);
        const top = want.slice(0, k);
        assert.deepEqual(Array.from(got.items), top.map((x) => x.item), `lastN ${lastN} k ${k} query ${q}`);
        assert.deepEqual(Array.from(got.scores), top.map((x) => x.s));
      }
    }
  });
});
