import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryProfileStore } from '../../src/profiles/memory.js';
import { itemKeys } from '../../src/profiles/rebuild.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, resolveWindow, DEFAULT_LEVELS } from '../../src/profiles/window.js';
import { Reference, T0, mulberry32, profileStoreConformance } from './conformance.js';

profileStoreConformance('memory', { create: (opts) => new MemoryProfileStore(opts) });

describe('window semantics', () => {
  it('picks the finest level that holds the window', () => {
    const clock = T0 + 10 * DAY_MS;
    const at = (w: number, now = clock) => resolveWindow(DEFAULT_LEVELS, w, now, clock);
    assert.equal(at(HOUR_MS).level, 0);
    assert.equal(at(2 * HOUR_MS).level, 0);
    assert.equal(at(DAY_MS).level, 1);
    assert.equal(at(7 * DAY_MS).level, 1);
    assert.equal(at(30 * DAY_MS).level, 2);
    assert.equal(at(HOUR_MS, clock - 5 * HOUR_MS).level, 1, 'a past window falls back to a retained level');
    assert.equal(at(HOUR_MS, clock - 9 * DAY_MS).level, 2);
    const w = resolveWindow(DEFAULT_LEVELS, HOUR_MS, T0 + HOUR_MS - 1, T0 + HOUR_MS - 1);
    assert.deepEqual([w.from, w.to], [T0, T0 + HOUR_MS]);
    assert.throws(() => at(41 * DAY_MS), RangeError);
  });
});

describe('MemoryProfileStore specifics', () => {
  it('evicts the least recently updated user beyond maxUsers', () => {
    const p = new MemoryProfileStore({ maxUsers: 3 });
    const ev = (u: number, s: number) => p.record({ userIdx: u, itemIdx: 1, type: 'view', timestamp: T0 + s * 1000 });
    ev(0, 0);
    ev(1, 1);
    ev(2, 2);
    ev(0, 3); // user 0 refreshed: user 1 is now the oldest
    ev(3, 4);
    const q = { windowMs: HOUR_MS, now: T0 + 10_000 };
    assert.equal(p.userCounts(1, q), 0, 'evicted');
    assert.equal(p.userCounts(0, q), 2);
    assert.equal(p.userCounts(2, q), 1);
    assert.equal(p.userCounts(3, q), 1);
    const st = p.memoryStats();
    assert.equal(st.users, 3);
    assert.equal(st.evictedUsers, 1);
  });

  it('folds a batch of pending events to the same counts as folding them one by one (late events, keys, touches)', () => {
    for (const seed of [1, 2, 3]) {
      const rnd = mulberry32(seed);
      // recentSize 1 folds every event as it comes; the default folds up to 50 at once
      const one = new MemoryProfileStore({ recentSize: 1, itemPopularity: false });
      const batch = new MemoryProfileStore({ itemPopularity: false });
      const items = [...Array(60).keys()];
      const keys = items.map((i) => (i % 7 === 0 ? [] : [`cat:${i % 5}`, `brand:${i % 11}`, ...(i % 3 ? [] : [`price:${i % 4}`])]));
      for (const p of [one, batch]) p.setItemKeys(items, keys);
      const types = ['view', 'click', 'purchase', 'add_to_cart'];
      let t = T0;
      const users = 12;
      for (let e = 0; e < 4000; e++) {
        // time moves by seconds to hours; some events arrive late (minutes to days)
        t += Math.floor(rnd() * (rnd() < 0.1 ? 6 * HOUR_MS : 90_000));
        const late = rnd() < 0.15 ? Math.floor(rnd() * (rnd() < 0.3 ? 3 * DAY_MS : 50 * MINUTE_MS)) : 0;
        const ev = { userIdx: Math.floor(rnd() ** 2 * users), itemIdx: items[Math.floor(rnd() * items.length)], type: types[Math.floor(rnd() ** 2 * types.length)], timestamp: Math.max(T0, t - late) };
        one.record(ev);
        batch.record(ev);
      }
      const now = t;
      for (let u = 0; u < users; u++) {
        for (const windowMs of [HOUR_MS, 2 * HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS]) {
          for (const type of [undefined, ...types]) {
            for (const key of [undefined, 'cat:1', 'brand:3', 'price:0']) {
              const q = { windowMs, now, ...(type ? { type } : {}), ...(key ? { key } : {}) };
              assert.equal(batch.userCounts(u, q), one.userCounts(u, q), `seed ${seed} user ${u} ${JSON.stringify(q)}`);
            }
          }
          assert.deepEqual(batch.userAffinities(u, { windowMs, now }), one.userAffinities(u, { windowMs, now }));
        }
        for (const i of items.slice(0, 20)) assert.equal(batch.lastTouched(u, { item: i }), one.lastTouched(u, { item: i }), `seed ${seed} user ${u} item ${i}`);
        for (const key of ['cat:0', 'cat:4', 'brand:10']) assert.equal(batch.lastTouched(u, { key }), one.lastTouched(u, { key }));
      }
      assert.ok(one.userCounts(0, { windowMs: 30 * DAY_MS, now }) > 100, 'a busy user');
    }
  });

  it('caps cells per user', () => {
    const p = new MemoryProfileStore({ maxCellsPerUser: 50, itemPopularity: false });
    for (let i = 0; i < 200; i++) p.record({ userIdx: 0, itemIdx: i, type: 'view', timestamp: T0 + i, keys: [`k:${i}`] });
    const st = p.memoryStats();
    assert.equal(st.userCells, 50);
    assert.ok(st.droppedLate > 0);
    // the cells that exist keep counting
    p.record({ userIdx: 0, itemIdx: 0, type: 'view', timestamp: T0 + 500 });
    assert.equal(p.userCounts(0, { windowMs: HOUR_MS, now: T0 + 1000 }), 201);
  });

  it('stays memory-bounded on a long stream (old buckets expire as the clock moves)', () => {
    const p = new MemoryProfileStore();
    const rnd = mulberry32(5);
    p.setItemKeys([...Array(100).keys()], [...Array(100).keys()].map((i) => [`cat:${i % 10}`]));
    let maxCells = 0;
    for (let day = 0; day < 150; day++) {
      for (let j = 0; j < 200; j++) {
        p.record({ userIdx: Math.floor(rnd() * 20), itemIdx: Math.floor(rnd() * 100), type: 'view', timestamp: T0 + day * DAY_MS + Math.floor(rnd() * DAY_MS) });
      }
      if (day % 30 === 29) {
        const c = p.memoryStats().userCells;
        maxCells = Math.max(maxCells, c);
      }
    }
    const st = p.memoryStats();
    // per user: ≤ 40 day + 192 hour + 120 minute buckets × 11 cells, + touches of 40 days
    assert.ok(st.userCells < 20 * (40 * 11 + 192 * 11 + 120 * 11 + 110), `${st.userCells} cells`);
    assert.ok(st.bytes < 20e6, `${st.bytes} bytes`);
    assert.equal(p.userCounts(3, { windowMs: 30 * DAY_MS, now: p.clock() }) > 0, true);
  });

  it('answers with custom levels at their precision', () => {
    const levels = [
      { name: '5min', granularityMs: 5 * MINUTE_MS, buckets: 12 },
      { name: '2h', granularityMs: 2 * HOUR_MS, buckets: 12 },
    ];
    const p = new MemoryProfileStore({ levels });
    const ref = new Reference(p.levels);
    const rnd = mulberry32(9);
    for (let i = 0; i < 2000; i++) {
      const ts = T0 + Math.floor(i * 40_000 + rnd() * 300_000);
      ref.add(0, i % 7, 'view', ts, []);
      p.record({ userIdx: 0, itemIdx: i % 7, type: 'view', timestamp: ts });
    }
    assert.equal(p.maxWindowMs, 24 * HOUR_MS);
    for (const windowMs of [5 * MINUTE_MS, 37 * MINUTE_MS, HOUR_MS, 3 * HOUR_MS, 20 * HOUR_MS]) {
      for (const now of [ref.clock, ref.clock - HOUR_MS, ref.clock + 7 * MINUTE_MS]) {
        assert.equal(p.userCounts(0, { windowMs, now }), ref.count({ user: 0, windowMs, now }).bucketed);
        assert.equal(p.itemPopularity(3, { windowMs, now }), ref.count({ item: 3, windowMs, now }).bucketed);
      }
    }
    assert.throws(() => new MemoryProfileStore({ levels: [{ name: 's', granularityMs: 1000, buckets: 10 }] }), /granularityMs/);
    assert.throws(() => new MemoryProfileStore({ levels: [levels[1], levels[0]] }), /coarser/);
  });

  it('turns item fields into keys', () => {
    const item = { id: 'x', categories: ['a', 'b', 'a'], tags: ['t'], attributes: { brand: 'acme', size: 42, colors: ['red', ''], meta: { x: 1 } } };
    assert.deepEqual(itemKeys(item), ['cat:a', 'cat:b']);
    assert.deepEqual(itemKeys(item, { fields: ['tags', 'brand', 'size', 'colors', 'meta', 'missing'] }), ['tag:t', 'brand:acme', 'size:42', 'colors:red']);
  });

  it('replaces item keys and compacts the key pool', () => {
    const p = new MemoryProfileStore();
    for (let r = 0; r < 50; r++) p.setItemKeys([...Array(100).keys()], [...Array(100).keys()].map((i) => [`cat:${(i + r) % 7}`, `b:${i}`]));
    p.record({ userIdx: 0, itemIdx: 3, type: 'view', timestamp: T0 });
    const q = { windowMs: HOUR_MS, now: T0 };
    assert.equal(p.userCounts(0, { ...q, key: `cat:${(3 + 49) % 7}` }), 1);
    assert.equal(p.userCounts(0, { ...q, key: 'b:3' }), 1);
    assert.equal(p.userCounts(0, { ...q, key: `cat:${(3 + 48) % 7}` }), 0);
  });
});
