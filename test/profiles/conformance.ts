/**
 * The ProfileStore conformance suite: every implementation (memory now, Redis later) runs these
 * tests unchanged. Window answers are checked against a brute-force recount that follows the
 * documented semantics of window.ts (bucket-exact), plus the bounded error against exact windows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ProfileStore } from '../../src/profiles/types.js';
import { DAY_MS, HOUR_MS, MINUTE_MS, type LevelSpec, bucketOf, resolveWindow } from '../../src/profiles/window.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { seededUniform } from '../../src/math/rng.js';

export interface ProfileHarnessOptions {
  levels?: LevelSpec[];
  recentSize?: number;
  types?: string[];
}

export interface ProfileHarness {
  create(opts?: ProfileHarnessOptions): ProfileStore | Promise<ProfileStore>;
  dispose?(store: ProfileStore): void | Promise<void>;
}

/** Midnight UTC: aligned to minutes, hours and days. */
export const T0 = Date.UTC(2026, 0, 1);

export const mulberry32 = seededUniform;

interface RefEvent {
  user: number;
  item: number;
  type: string;
  ts: number;
  keys: string[];
  /** Store clock when the event arrived (max timestamp so far, this one included). */
  clock: number;
}

/** The brute-force reference: the events as sent, and the documented semantics. */
export class Reference {
  events: RefEvent[] = [];
  clock = -Infinity;
  constructor(readonly levels: readonly LevelSpec[]) {}

  add(user: number, item: number, type: string, ts: number, keys: string[]): void {
    this.clock = Math.max(this.clock, ts);
    this.events.push({ user, item, type, ts, keys, clock: this.clock });
  }

  /** Whether the event is held at a level (it arrived while its bucket was retained). */
  keptAt(e: RefEvent, level: number): boolean {
    const l = this.levels[level];
    return bucketOf(e.ts, l.granularityMs) > bucketOf(e.clock, l.granularityMs) - l.buckets;
  }

  private match(e: RefEvent, q: { user?: number; item?: number; type?: string; key?: string }): boolean {
    return (
      (q.user === undefined || e.user === q.user) &&
      (q.item === undefined || e.item === q.item) &&
      (q.type === undefined || e.type === q.type) &&
      (q.key === undefined || e.keys.includes(q.key))
    );
  }

  /** Bucket-exact answer, and the bound on its difference from the exact window (now−W, now]. */
  count(q: { user?: number; item?: number; type?: string; key?: string; windowMs: number; now: number }): { bucketed: number; exact: number; slack: number } {
    const w = resolveWindow(this.levels, q.windowMs, q.now, this.clock);
    const g = w.granularityMs;
    let bucketed = 0;
    let exact = 0;
    let slack = 0;
    for (const e of this.events) {
      if (!this.match(e, q) || !this.keptAt(e, w.level)) continue;
      if (e.ts >= Math.max(0, w.from) && e.ts < w.to) bucketed++;
      if (e.ts > q.now - q.windowMs && e.ts <= q.now) exact++;
      if ((e.ts >= (w.first - 1) * g && e.ts < (w.first + 1) * g) || (e.ts > q.now && e.ts < w.to)) slack++;
    }
    return { bucketed, exact, slack };
  }
}

const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));

export function profileStoreConformance(name: string, h: ProfileHarness): void {
  describe(`ProfileStore conformance: ${name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-profiles-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    async function make(opts?: ProfileHarnessOptions): Promise<ProfileStore> {
      return h.create(opts);
    }
    async function done(p: ProfileStore): Promise<void> {
      await h.dispose?.(p);
    }

    it('counts by type and key over bucket-aligned windows', async () => {
      const p = await make();
      await p.setItemKeys([10, 11], [['cat:shoes', 'brand:acme'], ['cat:hats']]);
      const at = (m: number) => T0 + m * MINUTE_MS + 30_000;
      await p.record({ userIdx: 1, itemIdx: 10, type: 'view', timestamp: at(5) });
      await p.record({ userIdx: 1, itemIdx: 10, type: 'view', timestamp: at(50) });
      await p.record({ userIdx: 1, itemIdx: 11, type: 'click', timestamp: at(59) });
      await p.record({ userIdx: 1, itemIdx: 11, type: 'view', timestamp: at(61) });
      await p.record({ userIdx: 2, itemIdx: 10, type: 'view', timestamp: at(30) });
      await p.record({ userIdx: 1, itemIdx: 99, type: 'view', timestamp: at(10), keys: ['cat:shoes'] });
      assert.equal(await p.clock(), at(61));
      const hour = { windowMs: HOUR_MS, now: T0 + HOUR_MS - 1 }; // [T0, T0 + 1 h)
      assert.equal(await p.userCounts(1, hour), 4);
      assert.equal(await p.userCounts(1, { ...hour, type: 'view' }), 3);
      assert.equal(await p.userCounts(1, { ...hour, key: 'cat:shoes' }), 3);
      assert.equal(await p.userCounts(1, { ...hour, type: 'view', key: 'brand:acme' }), 2);
      assert.equal(await p.userCounts(1, { ...hour, type: 'click', key: 'cat:hats' }), 1);
      assert.equal(await p.userCounts(1, { ...hour, key: 'cat:unknown' }), 0);
      assert.equal(await p.userCounts(1, { ...hour, type: 'unknown' }), 0);
      assert.equal(await p.userCounts(7, hour), 0, 'unknown user');
      assert.equal(await p.userCounts(1, { windowMs: 10 * MINUTE_MS, now: T0 + HOUR_MS - 1 }), 2, 'minutes 50..59');
      assert.equal(await p.userCounts(1, { windowMs: DAY_MS, now: T0 + DAY_MS - 1 }), 5);
      assert.equal(await p.userCounts(1, { windowMs: 30 * DAY_MS, now: T0 + DAY_MS - 1 }), 5);
      assert.equal(await p.userCounts(2, { windowMs: 7 * DAY_MS, now: T0 + DAY_MS - 1, key: 'brand:acme' }), 1);
      await done(p);
    });

    it('answers affinities per key, weighted by type, filtered by prefix', async () => {
      const p = await make();
      await p.setItemKeys([1, 2, 3], [['cat:a', 'brand:x'], ['cat:b'], ['cat:a', 'cat:b']]);
      const ev = (item: number, type: string, m: number) => p.record({ userIdx: 0, itemIdx: item, type, timestamp: T0 + m * MINUTE_MS });
      await ev(1, 'view', 1);
      await ev(2, 'view', 2);
      await ev(3, 'purchase', 3);
      await ev(2, 'add_to_cart', 4);
      const q = { windowMs: HOUR_MS, now: T0 + 30 * MINUTE_MS };
      assert.deepEqual(sorted(await p.userAffinities(0, q)), [['brand:x', 1], ['cat:a', 2], ['cat:b', 3]]);
      const weighted = await p.userAffinities(0, { ...q, weights: { view: 1, add_to_cart: 3, purchase: 5 }, prefix: 'cat:' });
      assert.deepEqual([...weighted.entries()], [['cat:b', 9], ['cat:a', 6]], 'highest first');
      assert.deepEqual(sorted(await p.userAffinities(0, { ...q, types: ['view'] })), [['brand:x', 1], ['cat:a', 1], ['cat:b', 1]]);
      assert.equal((await p.userAffinities(5, q)).size, 0);
      await done(p);
    });

    it('keeps a bounded recent-items buffer, most recent first', async () => {
      const p = await make({ recentSize: 4 });
      for (let i = 0; i < 6; i++) await p.record({ userIdx: 3, itemIdx: 100 + i, type: i % 2 ? 'click' : 'view', timestamp: T0 + i * 1000 });
      // out of order: arrives last, happened before the others still buffered
      await p.record({ userIdx: 3, itemIdx: 200, type: 'view', timestamp: T0 + 2500 });
      const r = await p.recentItems(3, 10);
      assert.deepEqual([...r.itemIdx], [105, 104, 103, 200]);
      assert.deepEqual(r.types, ['click', 'view', 'click', 'view']);
      assert.deepEqual([...r.timestamp], [T0 + 5000, T0 + 4000, T0 + 3000, T0 + 2500]);
      assert.deepEqual([...(await p.recentItems(3, 2)).itemIdx], [105, 104]);
      assert.deepEqual([...(await p.recentItems(3, 10, ['view'])).itemIdx], [104, 200]);
      assert.equal((await p.recentItems(9, 5)).itemIdx.length, 0);
      await done(p);
    });

    it('remembers last touches of items and keys (second precision)', async () => {
      const p = await make();
      await p.setItemKeys([7], [['cat:a']]);
      await p.record({ userIdx: 0, itemIdx: 7, type: 'view', timestamp: T0 + 5_250 });
      await p.record({ userIdx: 0, itemIdx: 7, type: 'view', timestamp: T0 + 2_000 }); // older: no change
      await p.record({ userIdx: 0, itemIdx: 8, type: 'view', timestamp: T0 + 9_000, keys: ['cat:a'] });
      assert.equal(await p.lastTouched(0, { item: 7 }), T0 + 5_000);
      assert.equal(await p.lastTouched(0, { key: 'cat:a' }), T0 + 9_000);
      assert.equal(await p.lastTouched(0, { item: 9 }), undefined);
      assert.equal(await p.lastTouched(0, { key: 'cat:zzz' }), undefined);
      assert.equal(await p.lastTouched(4, { item: 7 }), undefined);
      await done(p);
    });

    it('answers item popularity and top-k (ties by lower index)', async () => {
      const p = await make();
      const ev = (u: number, item: number, type: string, m: number) => p.record({ userIdx: u, itemIdx: item, type, timestamp: T0 + m * MINUTE_MS });
      await ev(0, 5, 'view', 1);
      await ev(1, 5, 'view', 2);
      await ev(2, 5, 'click', 3);
      await ev(0, 3, 'view', 4);
      await ev(1, 3, 'view', 5);
      await ev(0, 9, 'view', 6);
      await ev(0, 1, 'view', 70); // next hour
      const q = { windowMs: HOUR_MS, now: T0 + HOUR_MS - 1 };
      assert.equal(await p.itemPopularity(5, q), 3);
      assert.equal(await p.itemPopularity(5, { ...q, type: 'view' }), 2);
      assert.equal(await p.itemPopularity(1, q), 0);
      const top = await p.topItems({ ...q, type: 'view', k: 2 });
      assert.deepEqual([...top.items], [3, 5]);
      assert.deepEqual([...top.counts], [2, 2]);
      const all = await p.topItems({ windowMs: DAY_MS, now: T0 + DAY_MS - 1, k: 10 });
      assert.deepEqual([...all.items], [5, 3, 1, 9]);
      assert.deepEqual([...all.counts], [3, 2, 1, 1]);
      assert.equal((await p.topItems({ ...q, k: 0 })).items.length, 0);
      await done(p);
    });

    it('records a columnar batch exactly like single events', async () => {
      const a = await make();
      const b = await make();
      const rnd = mulberry32(7);
      const n = 500;
      const cols = {
        length: n,
        userIdx: new Int32Array(n),
        itemIdx: new Int32Array(n),
        type: new Uint16Array(n),
        timestamp: new Float64Array(n),
        typeNames: new Map([[0, 'view'], [1, 'click'], [4, 'purchase']]),
      };
      const codes = [0, 1, 4];
      for (const p of [a, b]) await p.setItemKeys([0, 1, 2, 3], [['cat:a'], ['cat:b', 'x:1'], [], ['cat:a', 'x:2']]);
      for (let i = 0; i < n; i++) {
        cols.userIdx[i] = Math.floor(rnd() * 5);
        cols.itemIdx[i] = Math.floor(rnd() * 5);
        cols.type[i] = codes[Math.floor(rnd() * 3)];
        cols.timestamp[i] = T0 + Math.floor(rnd() * 3 * DAY_MS);
      }
      assert.equal(await a.recordBatch(cols), n);
      for (let i = 0; i < n; i++) {
        await b.record({ userIdx: cols.userIdx[i], itemIdx: cols.itemIdx[i], type: cols.typeNames.get(cols.type[i])!, timestamp: cols.timestamp[i] });
      }
      const now = T0 + 3 * DAY_MS;
      for (const windowMs of [HOUR_MS, DAY_MS, 7 * DAY_MS]) {
        for (let u = 0; u < 5; u++) {
          for (const type of [undefined, 'view', 'purchase']) {
            for (const key of [undefined, 'cat:a', 'x:2']) {
              assert.equal(await a.userCounts(u, { windowMs, now, type, key }), await b.userCounts(u, { windowMs, now, type, key }));
            }
          }
          assert.deepEqual(sorted(await a.userAffinities(u, { windowMs, now })), sorted(await b.userAffinities(u, { windowMs, now })));
        }
        assert.deepEqual(await a.topItems({ windowMs, now, k: 5 }), await b.topItems({ windowMs, now, k: 5 }));
      }
      await done(a);
      await done(b);
    });

    it('matches a brute-force recount on random streams (1h/1d/7d/30d and arbitrary windows)', async () => {
      for (const seed of [1, 2, 3]) {
        const p = await make({ recentSize: 6 });
        const ref = new Reference(p.levels);
        const rnd = mulberry32(seed);
        const users = 4;
        const items = 25;
        const keysOf: string[][] = [];
        for (let i = 0; i < items; i++) {
          const k = [`cat:${i % 4}`];
          if (i % 3 === 0) k.push(`brand:${i % 5}`);
          if (i % 7 === 0) k.push('tag:sale', `cat:${(i + 1) % 4}`);
          keysOf.push(k);
        }
        await p.setItemKeys(keysOf.map((_, i) => i), keysOf);
        const types = ['view', 'click', 'purchase'];
        // 45 days: ~1500 events, mostly in time order, with jitter and a few very late events
        let t = T0;
        const span = 45 * DAY_MS;
        const sent: RefEvent[] = [];
        while (t < T0 + span) {
          t += Math.floor(rnd() * rnd() * 2 * HOUR_MS) + 1;
          const r = rnd();
          let ts = t;
          if (r < 0.3) ts = t - Math.floor(rnd() * 10 * MINUTE_MS); // out of order within minutes
          else if (r < 0.33) ts = t - Math.floor(rnd() * 3 * DAY_MS); // late: past the minute (or hour) retention
          const user = Math.floor(rnd() * users);
          const item = Math.floor(rnd() * items);
          const type = types[Math.floor(rnd() * rnd() * 3)];
          const explicit = rnd() < 0.1 ? ['cat:x', `cat:${item % 4}`] : undefined;
          const keys = explicit ?? keysOf[item];
          ref.add(user, item, type, ts, keys);
          sent.push(ref.events[ref.events.length - 1]);
          await p.record({ userIdx: user, itemIdx: item, type, timestamp: ts, keys: explicit });
        }
        const clock = ref.clock;
        assert.equal(await p.clock(), clock);
        const aligned = (g: number, back: number) => (Math.floor(clock / g) + 1) * g - 1 - back * g;
        const windows = [HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS, 90 * MINUTE_MS, 17 * MINUTE_MS + 5_000, 2 * DAY_MS + 5 * HOUR_MS, 11 * DAY_MS];
        const nows = [clock, clock + 3 * MINUTE_MS, clock + 2 * HOUR_MS, aligned(MINUTE_MS, 0), aligned(HOUR_MS, 0), aligned(DAY_MS, 0), aligned(HOUR_MS, 5), clock - 3 * DAY_MS];
        let checked = 0;
        for (const windowMs of windows) {
          for (const now of nows) {
            const w = { windowMs, now };
            for (let u = 0; u <= users; u++) {
              for (const q of [{}, { type: 'view' }, { key: 'cat:1' }, { type: 'click', key: 'brand:0' }, { key: 'tag:sale' }, { key: 'cat:x' }]) {
                const r = ref.count({ user: u, ...q, ...w });
                const got = await p.userCounts(u, { ...q, ...w });
                assert.equal(got, r.bucketed, `seed ${seed} user ${u} ${JSON.stringify(q)} W=${windowMs} now=${now - T0}`);
                assert.ok(Math.abs(got - r.exact) <= r.slack, `bounded error: got ${got}, exact ${r.exact}, slack ${r.slack}`);
                checked++;
              }
              // affinities: every key, weighted
              const weights = { view: 1, click: 2, purchase: 5 };
              const aff = await p.userAffinities(u, { ...w, weights });
              const allKeys = new Set(sent.filter((e) => e.user === u).flatMap((e) => e.keys));
              for (const key of allKeys) {
                let want = 0;
                for (const [type, wt] of Object.entries(weights)) want += wt * ref.count({ user: u, type, key, ...w }).bucketed;
                assert.equal(aff.get(key) ?? 0, want, `affinity ${key}`);
              }
            }
            // popularity
            for (const type of [undefined, 'view']) {
              const counts = new Map<number, number>();
              for (let i = 0; i < items; i++) {
                const c = ref.count({ item: i, type, ...w }).bucketed;
                assert.equal(await p.itemPopularity(i, { ...w, type }), c);
                if (c > 0) counts.set(i, c);
              }
              const want = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 7);
              const top = await p.topItems({ ...w, type, k: 7 });
              assert.deepEqual([...top.items], want.map((x) => x[0]));
              assert.deepEqual([...top.counts], want.map((x) => x[1]));
              if (p.itemCounts) {
                // every item at once; a size below the catalogue leaves the rest out
                const dense = await p.itemCounts({ ...w, type }, items);
                assert.deepEqual([...dense], Array.from({ length: items }, (_, i) => counts.get(i) ?? 0));
                const cut = await p.itemCounts({ ...w, type }, 3);
                assert.deepEqual([...cut], [0, 1, 2].map((i) => counts.get(i) ?? 0));
              }
            }
          }
        }
        assert.ok(checked > 1000);
        // recent buffer: the last 6 arrivals, newest timestamp first
        for (let u = 0; u < users; u++) {
          const mine = sent.filter((e) => e.user === u).slice(-6).reverse();
          const want = [...mine].sort((a, b) => b.ts - a.ts);
          const got = await p.recentItems(u, 6);
          assert.deepEqual([...got.timestamp], want.map((e) => e.ts));
          assert.deepEqual([...got.itemIdx], want.map((e) => e.item));
        }
        // last touches: second precision, kept while the coarsest level keeps the event's bucket
        const coarse = p.levels[p.levels.length - 1];
        const horizon = (Math.floor(clock / coarse.granularityMs) - coarse.buckets + 1) * coarse.granularityMs;
        const lastOf = (mine: RefEvent[]) => {
          const kept = mine.filter((e) => e.ts >= horizon);
          return kept.length ? Math.max(...kept.map((e) => Math.floor(e.ts / 1000) * 1000)) : undefined;
        };
        for (let u = 0; u < users; u++) {
          for (let i = 0; i < items; i++) assert.equal(await p.lastTouched(u, { item: i }), lastOf(sent.filter((e) => e.user === u && e.item === i)));
          for (const key of ['cat:0', 'cat:x', 'tag:sale']) assert.equal(await p.lastTouched(u, { key }), lastOf(sent.filter((e) => e.user === u && e.keys.includes(key))));
        }
        await done(p);
      }
    });

    it('expires old buckets: counts vanish, memory is released', async () => {
      const p = await make();
      await p.setItemKeys([0], [['cat:a']]);
      for (let u = 0; u < 20; u++) for (let m = 0; m < 30; m++) await p.record({ userIdx: u, itemIdx: m, type: 'view', timestamp: T0 + m * MINUTE_MS });
      const before = await p.memoryStats();
      assert.equal(before.users, 20);
      assert.ok(before.userCells > 0 && before.itemCells > 0);
      // one event 60 days later: everything before is out of every level
      const later = T0 + 60 * DAY_MS;
      await p.record({ userIdx: 0, itemIdx: 0, type: 'view', timestamp: later });
      assert.equal(await p.userCounts(1, { windowMs: 30 * DAY_MS, now: later }), 0);
      assert.equal(await p.userCounts(0, { windowMs: 30 * DAY_MS, now: later }), 1);
      assert.equal(await p.itemPopularity(3, { windowMs: 30 * DAY_MS, now: later }), 0);
      assert.equal(await p.lastTouched(1, { item: 3 }), undefined);
      await p.expire();
      const after1 = await p.memoryStats();
      assert.equal(after1.users, 1, 'users with nothing left are freed');
      assert.ok(after1.userCells < before.userCells / 10, `cells left: ${after1.userCells}`);
      assert.ok(after1.bytes < before.bytes);
      // a late event for an expired bucket is dropped, not counted
      await p.record({ userIdx: 5, itemIdx: 0, type: 'view', timestamp: T0 });
      assert.equal(await p.userCounts(5, { windowMs: 30 * DAY_MS, now: later }), 0);
      assert.ok((await p.memoryStats()).droppedLate >= 3);
      // time passing without events: expire(now) moves the clock
      await p.expire(later + 50 * DAY_MS);
      assert.equal(await p.clock(), later + 50 * DAY_MS);
      assert.equal(await p.userCounts(0, { windowMs: 30 * DAY_MS, now: later + 50 * DAY_MS }), 0);
      await done(p);
    });

    it('honours the types filter and refuses bad input', async () => {
      const p = await make({ types: ['view', 'purchase'] });
      assert.equal(await p.recordBatch([
        { userIdx: 0, itemIdx: 1, type: 'view', timestamp: T0 },
        { userIdx: 0, itemIdx: 1, type: 'impression', timestamp: T0 },
        { userIdx: 0, itemIdx: 1, type: p.typeCode('purchase'), timestamp: T0 },
      ]), 2);
      assert.equal(await p.userCounts(0, { windowMs: HOUR_MS, now: T0 }), 2);
      assert.equal(await p.userCounts(0, { windowMs: HOUR_MS, now: T0, type: 'impression' }), 0);
      await assert.rejects(async () => p.userCounts(0, { windowMs: p.maxWindowMs + DAY_MS, now: T0 }), /longer than the longest/);
      await assert.rejects(async () => p.userCounts(0, { windowMs: 0, now: T0 }), /windowMs/);
      await assert.rejects(async () => p.record({ userIdx: 0, itemIdx: 1, type: 'view', timestamp: NaN }), /timestamp/);
      await assert.rejects(async () => p.record({ userIdx: -1, itemIdx: 1, type: 'view', timestamp: T0 }), /user index/);
      await assert.rejects(async () => p.record({ userIdx: 0, itemIdx: 1, type: 'view', timestamp: T0, keys: [''] }), /key/);
      await assert.rejects(async () => p.topItems({ windowMs: HOUR_MS, now: T0, k: -1 }), /k must be/);
      await done(p);
    });

    it('clears everything', async () => {
      const p = await make();
      await p.record({ userIdx: 0, itemIdx: 1, type: 'view', timestamp: T0, keys: ['cat:a'] });
      await p.clear();
      assert.equal(await p.clock(), -Infinity);
      assert.equal(await p.userCounts(0, { windowMs: HOUR_MS, now: T0 }), 0);
      assert.equal((await p.recentItems(0, 5)).itemIdx.length, 0);
      assert.equal((await p.memoryStats()).users, 0);
      await done(p);
    });

    it('rebuilds from a SQLite store: item keys from items, events of the longest window', async () => {
      const store = await SqliteStore.open(join(dir, `rebuild-${name}.db`));
      try {
        const now = T0 + 50 * DAY_MS;
        await store.upsertItems([
          { id: 'i0', categories: ['shoes'], attributes: { brand: 'acme', colors: ['red', 'blue'] } },
          { id: 'i1', categories: ['hats', 'sale'], tags: ['summer'] },
          { id: 'i2' },
        ]);
        const events = [];
        const rnd = mulberry32(11);
        for (let i = 0; i < 400; i++) {
          events.push({
            userId: `u${Math.floor(rnd() * 6)}`,
            itemId: `i${Math.floor(rnd() * 3)}`,
            type: rnd() < 0.8 ? 'view' : 'purchase',
            // 60 days back from now: the oldest are outside every window
            timestamp: now - Math.floor(rnd() * 60 * DAY_MS),
          });
        }
        assert.equal((await store.appendEvents(events)).accepted, 400);
        const p = await make();
        const rep = await p.rebuild(store, { now, fields: ['categories', 'tags', 'brand', 'colors'] });
        assert.equal(rep.items, 3);
        assert.ok(rep.events > 0 && rep.events < 400, `${rep.events} events replayed`);
        assert.equal(rep.lastSeq > 0, true);
        assert.equal(await p.clock(), now);
        const uidx = new Map<string, number>();
        const iidx = new Map<string, number>();
        for (let u = 0; u < 6; u++) uidx.set(`u${u}`, await store.userIndex(`u${u}`));
        for (let i = 0; i < 3; i++) iidx.set(`i${i}`, await store.itemIndex(`i${i}`));
        const keysOf: Record<string, string[]> = {
          i0: ['cat:shoes', 'brand:acme', 'colors:red', 'colors:blue'],
          i1: ['cat:hats', 'cat:sale', 'tag:summer'],
          i2: [],
        };
        const ref = new Reference(p.levels);
        ref.clock = now; // the rebuild starts its clock at now
        for (const e of events.filter((e) => e.timestamp >= rep.since)) ref.add(uidx.get(e.userId)!, iidx.get(e.itemId)!, e.type, e.timestamp, keysOf[e.itemId]);
        for (const windowMs of [HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS]) {
          for (const u of uidx.values()) {
            for (const q of [{}, { type: 'purchase' }, { key: 'cat:shoes' }, { key: 'colors:blue' }, { key: 'tag:summer' }]) {
              assert.equal(await p.userCounts(u, { ...q, windowMs, now }), ref.count({ user: u, ...q, windowMs, now }).bucketed);
            }
          }
          for (const i of iidx.values()) assert.equal(await p.itemPopularity(i, { windowMs, now }), ref.count({ item: i, windowMs, now }).bucketed);
        }
        await done(p);
      } finally {
        await store.close();
      }
    });
  });
}
