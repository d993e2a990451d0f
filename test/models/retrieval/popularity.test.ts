import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PopularityModel } from '../../../src/models/retrieval/popularity.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { timelinesFromArrays } from '../../../src/models/retrieval/types.js';

const DAY = 86_400_000;
// u0: 0 1 2 | u1: 1 2 | u2: 2 2 3 — item 4 is never seen.
const data = timelinesFromArrays({
  userIdx: [0, 0, 0, 1, 1, 2, 2, 2],
  itemIdx: [0, 1, 2, 1, 2, 2, 2, 3],
  timestamp: [0, 0, 0, 5 * DAY, 5 * DAY, 10 * DAY, 10 * DAY, 10 * DAY],
  numItems: 5,
});
const ids = (r: { items: Int32Array }) => Array.from(r.items);

describe('PopularityModel', () => {
  it('ranks by distinct users, ties by index; unseen items never come back; k > n returns n', async () => {
    const m = new PopularityModel();
    const rep = await m.fit(data);
    assert.equal(rep.kind, 'popularity');
    assert.deepEqual(Array.from(m.popularity()), [1, 2, 3, 1, -Infinity]);
    assert.deepEqual(ids(m.recommend(new Int32Array(0), 10)), [2, 1, 0, 3]);
    assert.deepEqual(Array.from(m.recommend(new Int32Array(0), 2).scores), [3, 2]);
  });

  it('excludes the history and the exclusion list (unless includeHistory)', async () => {
    const m = new PopularityModel();
    await m.fit(data);
    assert.deepEqual(ids(m.recommend(Int32Array.of(2), 2)), [1, 0]);
    assert.deepEqual(ids(m.recommend(Int32Array.of(2), 2, Int32Array.of(1))), [0, 3]);
    assert.deepEqual(ids(m.recommend(Int32Array.of(2), 2, undefined, { includeHistory: true })), [2, 1]);
    assert.deepEqual(Array.from(m.score(Int32Array.of(), Int32Array.of(3, 4))), [1, -Infinity]);
  });

  it('counts events when asked', async () => {
    const m = new PopularityModel();
    await m.fit(data, { count: 'events' });
    assert.deepEqual(Array.from(m.popularity()), [1, 2, 4, 1, -Infinity]);
  });

  it('weighs events by type (users: a user counts with their heaviest event; weight 0: not counted)', async () => {
    // Types: u0: 0 1 2 → view, view, purchase | u1: 1 2 → purchase, view | u2: 2 2 3 → view, purchase, cart.
    const typed = { ...data, types: Uint16Array.of(0, 0, 1, 1, 0, 0, 1, 2) };
    const m = new PopularityModel();
    await m.fit(typed, { typeWeights: Float32Array.of(1, 5, 0) });
    assert.deepEqual(Array.from(m.popularity()), [1, 1 + 5, 5 + 1 + 5, -Infinity, -Infinity]);
    assert.match(m.name, /type-weighted/);
    await m.fit(typed, { count: 'events', typeWeights: [1, 5, 0] });
    assert.deepEqual(Array.from(m.popularity()), [1, 1 + 5, 5 + 1 + 1 + 5, -Infinity, -Infinity]);
    // Codes past the end of the array weigh 1; all-ones weights change nothing.
    await m.fit(typed, { typeWeights: [2] });
    assert.deepEqual(Array.from(m.popularity()), [2, 2 + 1, 1 + 2 + 2, 1, -Infinity]);
    await m.fit(typed, { typeWeights: [1, 1, 1] });
    const plain = new PopularityModel();
    await plain.fit(typed);
    assert.deepEqual(Array.from(m.popularity()), Array.from(plain.popularity()));
    await assert.rejects(new PopularityModel().fit(typed, { typeWeights: [1, -2] }), /typeWeights\[1\] must be a finite number >= 0/);
    await assert.rejects(new PopularityModel().fit(data, { typeWeights: [1] }), /needs event types/);
  });

  it('decays with a half-life relative to the latest event', async () => {
    const m = new PopularityModel();
    await m.fit(data, { halfLifeDays: 5 });
    // now = day 10: weights day 0 -> 1/4, day 5 -> 1/2, day 10 -> 1.
    const p = m.popularity();
    assert.ok(Math.abs(p[0] - 0.25) < 1e-6);
    assert.ok(Math.abs(p[1] - 0.75) < 1e-6);
    assert.ok(Math.abs(p[2] - 1.75) < 1e-6);
    assert.ok(Math.abs(p[3] - 1) < 1e-6);
    assert.deepEqual(ids(m.recommend(new Int32Array(0), 4)), [2, 3, 1, 0]);
    assert.match(m.name, /half-life 5d/);
    await assert.rejects(new PopularityModel().fit({ ...data, timestamps: undefined }, { halfLifeDays: 1 }), /needs timestamps/);
  });

  it('per category', async () => {
    const m = new PopularityModel();
    await m.fit(data, { categories: Int32Array.of(0, 0, 1, 1, 1) });
    assert.deepEqual(ids(m.recommendInCategory(1, 10)), [2, 3]);
    assert.deepEqual(ids(m.recommendInCategory(0, 10, Int32Array.of(1))), [0]);
    assert.deepEqual(ids(m.similarItems(0, 5)), [1]);
    assert.deepEqual(ids(m.similarItems(3, 5)), [2]);
    await assert.rejects(new PopularityModel().fit(data, { categories: Int32Array.of(0) }), /categories has 1 entries/);
  });

  it('save → load gives identical recommendations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-pop-'));
    try {
      const m = new PopularityModel();
      await m.fit(data, { halfLifeDays: 3, categories: Int32Array.of(0, 0, 1, 1, 1) });
      await m.save(dir);
      const l = await loadModel(dir);
      assert.ok(l instanceof PopularityModel);
      assert.equal(l.name, m.name);
      assert.deepEqual(l.recommend(Int32Array.of(1), 10), m.recommend(Int32Array.of(1), 10));
      assert.deepEqual((l as PopularityModel).recommendInCategory(1, 10), m.recommendInCategory(1, 10));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses calls before fit', () => {
    assert.throws(() => new PopularityModel().recommend(new Int32Array(0), 1), /not fitted/);
  });
});
