import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CboModel } from '../../../src/models/retrieval/cbo.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { timelinesFromArrays } from '../../../src/models/retrieval/types.js';

// Two taste groups: users 0-5 watch items 0-2 (item 0 by all, 1 by four, 2 by two), users 6-11
// watch items 3-5 (3 by all, 4 by four, 5 by two). Item 6 is never seen.
const rowsList: number[][] = [];
for (let u = 0; u < 6; u++) rowsList.push([0, ...(u < 4 ? [1] : []), ...(u < 2 ? [2] : [])]);
for (let u = 0; u < 6; u++) rowsList.push([3, ...(u < 4 ? [4] : []), ...(u < 2 ? [5] : [])]);
const data = timelinesFromArrays({
  userIdx: rowsList.flatMap((r, u) => r.map(() => u)), itemIdx: rowsList.flat(), numItems: 7,
});
const ids = (r: { items: Int32Array }) => Array.from(r.items);

describe('CboModel', () => {
  it('separates the two groups and serves each its own best-of', async () => {
    const m = new CboModel();
    const rep = await m.fit(data, { clusters: 2, seed: 1, globalWeight: 0 });
    assert.equal(rep.kind, 'cbo');
    assert.deepEqual(Array.from(m.clusterSizes()).sort(), [6, 6]);
    assert.notEqual(m.assignCluster(Int32Array.of(0)), m.assignCluster(Int32Array.of(3)));
    assert.equal(m.assignCluster(Int32Array.of(2)), m.assignCluster(Int32Array.of(1)));
    // A new user who watched item 2 gets the rest of group A first (shares 1, 4/6), then nothing
    // from group B scores above 0 in that cluster: ties broken by item index.
    const r = m.recommend(Int32Array.of(2), 10);
    assert.deepEqual(ids(r).slice(0, 2), [0, 1]);
    assert.deepEqual(Array.from(r.scores).slice(0, 2), [1, Math.fround(4 / 6)]);
    assert.deepEqual(ids(r), [0, 1, 3, 4, 5]); // k > n returns every known item but the history
    assert.deepEqual(ids(m.recommend(Int32Array.of(4), 2)), [3, 5]);
  });

  it('blends global popularity with globalWeight and uses it for empty histories', async () => {
    const m = new CboModel();
    await m.fit(data, { clusters: 2, seed: 1, globalWeight: 0.5 });
    const s = m.score(Int32Array.of(2));
    // item 0: 0.5·1 + 0.5·6/12; item 3: 0.5·0 + 0.5·6/12.
    assert.ok(Math.abs(s[0] - 0.75) < 1e-6 && Math.abs(s[3] - 0.25) < 1e-6);
    assert.equal(s[6], -Infinity);
    assert.equal(m.assignCluster(new Int32Array(0)), -1);
    assert.deepEqual(ids(m.recommend(new Int32Array(0), 2)), [0, 3]);
  });

  it('respects exclusions and includeHistory', async () => {
    const m = new CboModel();
    await m.fit(data, { clusters: 2, seed: 1, globalWeight: 0 });
    assert.deepEqual(ids(m.recommend(Int32Array.of(2), 2, Int32Array.of(0))), [1, 3]);
    assert.deepEqual(ids(m.recommend(Int32Array.of(2), 3, undefined, { includeHistory: true })), [0, 1, 2]);
  });

  it('accepts given item vectors and is deterministic for a seed', async () => {
    const vectors = new Float32Array(7 * 2);
    for (let i = 0; i < 6; i++) vectors[i * 2 + (i < 3 ? 0 : 1)] = 1;
    const m = new CboModel();
    await m.fit(data, { clusters: 2, itemVectors: { vectors, dim: 2 }, seed: 3 });
    assert.deepEqual(Array.from(m.encodeUser(Int32Array.of(0, 1))), [1, 0]);
    assert.notEqual(m.assignCluster(Int32Array.of(1)), m.assignCluster(Int32Array.of(4)));
    const a = new CboModel();
    const b = new CboModel();
    await a.fit(data, { clusters: 3, seed: 9 });
    await b.fit(data, { clusters: 3, seed: 9 });
    assert.deepEqual(a.clusterSizes(), b.clusterSizes());
    for (let i = 0; i < 6; i++) assert.deepEqual(a.recommend(Int32Array.of(i), 7), b.recommend(Int32Array.of(i), 7));
    await assert.rejects(new CboModel().fit(data, { itemVectors: { vectors, dim: 3 } }), /numItems × dim/);
  });

  it('similar items come from the item vectors', async () => {
    const m = new CboModel();
    await m.fit(data, { clusters: 2, seed: 1 });
    const sim = ids(m.similarItems(0, 2));
    assert.ok(sim.every((i) => i === 1 || i === 2), String(sim));
    assert.ok(!ids(m.similarItems(0, 10)).includes(6));
  });

  it('save → load gives identical recommendations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-cbo-'));
    try {
      const m = new CboModel();
      await m.fit(data, { clusters: 2, seed: 1 });
      await m.save(dir);
      const l = await loadModel(dir);
      assert.equal(l.name, m.name);
      for (const h of [[0], [4, 5], [], [6]]) assert.deepEqual(l.recommend(Int32Array.from(h), 10), m.recommend(Int32Array.from(h), 10));
      assert.deepEqual(l.encodeUser(Int32Array.of(1)), m.encodeUser(Int32Array.of(1)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
