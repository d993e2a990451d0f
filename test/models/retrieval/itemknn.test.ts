import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forEachCooccurrenceRow, ItemKnnModel } from '../../../src/models/retrieval/itemknn.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { distinctItems, timelinesFromArrays } from '../../../src/models/retrieval/types.js';

// u0: 0 1 | u1: 0 1 2 | u2: 1 2 (1 twice) | u3: 3 — item 4 never seen.
// Co-occurrence: C01 = 2, C02 = 1, C12 = 2, item 3 alone. Users per item: n = 2, 3, 2, 1.
const data = timelinesFromArrays({
  userIdx: [0, 0, 1, 1, 1, 2, 2, 2, 3],
  itemIdx: [0, 1, 0, 1, 2, 1, 2, 1, 3],
  numItems: 5,
});
const ids = (r: { items: Int32Array }) => Array.from(r.items);
const close = (a: ArrayLike<number>, b: number[], tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let q = 0; q < b.length; q++) assert.ok(Math.abs(a[q] - b[q]) <= tol, `${Array.from(a)} != ${b}`);
};

describe('co-occurrence rows', () => {
  it('match the hand count', () => {
    const got: Record<number, [number, number][]> = {};
    forEachCooccurrenceRow(distinctItems(data), (i, touched, count, acc) => {
      got[i] = Array.from(touched.subarray(0, count), (j) => [j, acc[j]] as [number, number]);
    });
    assert.deepEqual(got, { 0: [[1, 2], [2, 1]], 1: [[0, 2], [2, 2]], 2: [[0, 1], [1, 2]], 3: [], 4: [] });
  });
});

describe('ItemKnnModel', () => {
  it('co-occurrence neighbours, ties by item index', async () => {
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'cooccurrence' });
    assert.deepEqual(ids(m.neighboursOf(0)), [1, 2]);
    assert.deepEqual(Array.from(m.neighboursOf(0).scores), [2, 1]);
    assert.deepEqual(ids(m.neighboursOf(1)), [0, 2]);
    assert.deepEqual(ids(m.neighboursOf(2)), [1, 0]);
    assert.deepEqual(ids(m.neighboursOf(3)), []);
  });

  it('cosine similarity C_ij / (sqrt(n_i n_j) + shrink)', async () => {
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'cosine' });
    close(m.neighboursOf(0).scores, [2 / Math.sqrt(6), 1 / 2]);
    close(m.neighboursOf(1).scores, [2 / Math.sqrt(6), 2 / Math.sqrt(6)]);
    const s = new ItemKnnModel();
    await s.fit(data, { similarity: 'cosine', shrink: 1 });
    close(s.neighboursOf(0).scores, [2 / (Math.sqrt(6) + 1), 1 / 3]);
  });

  it('PMI with context smoothing', async () => {
    // r = row sums of C: r0 = 3, r1 = 4, r2 = 3; with α = 1, Z = 10: PMI_ij = log(C_ij·10 / (r_i r_j)).
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'pmi', alpha: 1, minCount: 1 });
    close(m.neighboursOf(0).scores, [Math.log(20 / 12), Math.log(10 / 9)]);
    close(m.neighboursOf(1).scores, [Math.log(20 / 12), Math.log(20 / 12)]);
    // α = 0.75: Z = 2·3^0.75 + 4^0.75; PMI_ij = log(C_ij Z / (r_i r_j^0.75)).
    const z = 2 * Math.pow(3, 0.75) + Math.pow(4, 0.75);
    const a = new ItemKnnModel();
    await a.fit(data, { similarity: 'pmi', minCount: 1 });
    close(a.neighboursOf(0).scores, [Math.log((2 * z) / (3 * Math.pow(4, 0.75))), Math.log(z / (3 * Math.pow(3, 0.75)))]);
    // minCount drops the pairs seen once; negative PMI values are never neighbours.
    const c = new ItemKnnModel();
    await c.fit(data, { similarity: 'pmi', alpha: 1, minCount: 2 });
    assert.deepEqual(ids(c.neighboursOf(0)), [1]);
  });

  it('keeps k neighbours and recommends by summing them over the history', async () => {
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'cooccurrence', k: 1 });
    assert.deepEqual(ids(m.neighboursOf(1)), [0]);
    const full = new ItemKnnModel();
    await full.fit(data, { similarity: 'cooccurrence' });
    // history {0, 2}: item 1 = C01 + C21 = 4; item 3 known but unrelated = 0; item 4 unseen.
    const r = full.recommend(Int32Array.of(0, 2, 0), 10);
    assert.deepEqual(ids(r), [1, 3]);
    assert.deepEqual(Array.from(r.scores), [4, 0]);
    assert.deepEqual(Array.from(full.score(Int32Array.of(0))), [0, 2, 1, 0, -Infinity]);
  });

  it('respects exclusions, k > n returns n, similarItems never returns the item', async () => {
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'cosine' });
    assert.deepEqual(ids(m.recommend(Int32Array.of(0), 10, Int32Array.of(1))), [2, 3]);
    assert.deepEqual(ids(m.recommend(Int32Array.of(0), 10, undefined, { includeHistory: true })), [1, 2, 0, 3]);
    assert.deepEqual(ids(m.similarItems(1, 10)), [0, 2]);
    assert.deepEqual(ids(m.similarItems(1, 1)), [0]);
    assert.throws(() => m.similarItems(9, 1), /out of range/);
  });

  it('save → load gives identical recommendations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-knn-'));
    try {
      const m = new ItemKnnModel();
      await m.fit(data, { similarity: 'pmi', k: 2, minCount: 1 });
      await m.save(dir);
      const l = await loadModel(dir);
      assert.equal(l.name, m.name);
      for (const h of [[0], [1, 2], [3], []]) assert.deepEqual(l.recommend(Int32Array.from(h), 10), m.recommend(Int32Array.from(h), 10));
      assert.deepEqual(l.similarItems(0, 5), m.similarItems(0, 5));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('batch equals single', () => {
  it('recommendMany returns what recommend returns per user', async () => {
    const { recommendMany } = await import('../../../src/models/retrieval/types.js');
    const m = new ItemKnnModel();
    await m.fit(data, { similarity: 'cosine' });
    const hist = timelinesFromArrays({ userIdx: [0, 0, 1, 2], itemIdx: [0, 2, 3, 1], numUsers: 4, numItems: 5 });
    const b = recommendMany(m as never, hist, 3);
    for (let r = 0; r < 4; r++) {
      const single = m.recommend(hist.items.subarray(hist.indptr[r], hist.indptr[r + 1]), 3);
      assert.deepEqual(Array.from(b.items.subarray(r * 3, r * 3 + b.lengths[r])), Array.from(single.items));
      assert.deepEqual(Array.from(b.scores.subarray(r * 3, r * 3 + b.lengths[r])), Array.from(single.scores));
    }
    assert.equal(b.items[0 * 3 + 2], -1); // user 0 has only 2 recommendable items left: padded
  });
});
