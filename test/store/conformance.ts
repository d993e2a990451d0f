/**
 * The Store conformance suite: every Store implementation (SQLite now, PostgreSQL later) runs
 * these tests unchanged. `factory` returns a fresh, empty store; `reopen` (optional) reopens
 * the same storage to check persistence.
 */
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { isBulkLoadable, type BatchResult, type Store, type EventBatch } from '../../src/store/types.js';
import type { Event } from '../../src/data/model.js';
import { decodeSources, encodeProvenance } from '../../src/data/provenance.js';

export interface StoreHarness {
  create(opts?: Record<string, unknown>): Promise<Store>;
  reopen?(store: Store): Promise<Store>;
}

const T0 = Date.UTC(2026, 0, 1);

/** A provenance block from per-position `encodeSources` strings. */
const prov = (sources: string[]) => encodeProvenance(sources.map((x) => decodeSources(x) ?? []));

function ev(userId: string, itemId: string, type: string, minute: number, extra: Partial<Event> = {}): Event {
  return { userId, itemId, type, timestamp: T0 + minute * 60_000, ...extra };
}

async function collect(it: AsyncIterable<EventBatch>): Promise<{ user: number[]; item: number[]; type: number[]; ts: number[]; seq: number[] }> {
  const out = { user: [] as number[], item: [] as number[], type: [] as number[], ts: [] as number[], seq: [] as number[] };
  for await (const b of it) {
    assert.equal(b.userIdx.length, b.length);
    for (let i = 0; i < b.length; i++) {
      out.user.push(b.userIdx[i]);
      out.item.push(b.itemIdx[i]);
      out.type.push(b.type[i]);
      out.ts.push(b.timestamp[i]);
      out.seq.push(b.seq[i]);
    }
  }
  return out;
}

export function storeConformance(name: string, h: StoreHarness): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await h.create();
    });
    afterEach(async () => {
      await store.close();
    });

    it('upserts users idempotently with dense, stable indices', async () => {
      const r1 = await store.upsertUsers([{ id: 'u1', attributes: { country: 'FR' } }, { id: 'u2' }]);
      assert.deepEqual(r1, { accepted: 2, duplicates: 0, errors: [] });
      await store.upsertUsers([{ id: 'u1', attributes: { country: 'DE' } }]);
      assert.equal(await store.userIndex('u1'), 0);
      assert.equal(await store.userIndex('u2'), 1);
      assert.equal(await store.userIndex('nope'), -1);
      assert.deepEqual((await store.getUser('u1'))?.attributes, { country: 'DE' });
      assert.equal(await store.userId(1), 'u2');
      assert.equal((await store.counts()).users, 2);
    });

    it('upserts items with every field and replaces them on re-upsert', async () => {
      const item = {
        id: 'i1', title: 'Red shoe', categories: ['shoes', 'red'], tags: ['sale'], price: 49.5, available: false,
        createdAt: T0, text: 'A red shoe', imageUrl: 'https://example.com/i1.png', attributes: { brand: 'x' },
      };
      assert.equal((await store.upsertItems([item, { id: 'i2' }])).accepted, 2);
      const got = await store.getItem('i1');
      assert.ok(got);
      const { idx, declared, ...rest } = got;
      assert.equal(idx, 0);
      assert.equal(declared, true);
      assert.deepEqual(rest, item);
      await store.upsertItems([{ id: 'i1', title: 'Blue shoe' }]);
      const again = await store.getItem('i1');
      assert.equal(again?.title, 'Blue shoe');
      assert.equal(again?.available, true);
      assert.equal(again?.price, undefined);
      assert.equal(again?.idx, 0);
      assert.deepEqual(await store.getItems(['i2', 'zz', 'i1']).then((a) => a.map((x) => x?.id)), ['i2', undefined, 'i1']);
    });

    it('rejects invalid entries one by one and keeps the valid ones', async () => {
      const r = await store.upsertItems([{ id: 'ok' }, { id: '' }, { id: 'p', price: 'cheap' } as never, 42 as never]);
      assert.equal(r.accepted, 1);
      assert.deepEqual(
        r.errors.map((e) => [e.index, e.field, e.code]),
        [[1, 'id', 'MISSING_FIELD'], [2, 'price', 'INVALID_TYPE'], [3, undefined, 'NOT_AN_OBJECT']],
      );
      const re = await store.appendEvents([
        ev('u', 'ok', 'view', 1),
        { userId: 'u', itemId: 'ok', type: 'view' } as never,
        { userId: 'u', itemId: 'ok', type: 7, timestamp: T0 } as never,
        ev('u', 'ok', 'click', 2, { value: 'x' as never }),
        ev('u', 'ok', 'purchase', 3),
      ]);
      assert.equal(re.accepted, 2);
      assert.deepEqual(re.errors.map((e) => [e.index, e.field, e.code]), [[1, 'timestamp', 'MISSING_FIELD'], [2, 'type', 'INVALID_TYPE'], [3, 'value', 'INVALID_TYPE']]);
      assert.equal((await store.counts()).events, 2);
    });

    it('appends events, creates unknown users/items as undeclared, and counts by type', async () => {
      await store.upsertItems([{ id: 'i1' }]);
      const r = await store.appendEvents([ev('u1', 'i1', 'view', 1), ev('u1', 'i2', 'click', 2), ev('u2', 'i1', 'my_custom', 3, { value: 2.5 })]);
      assert.equal(r.accepted, 3);
      const c = await store.counts();
      assert.equal(c.events, 3);
      assert.deepEqual(c.eventsByType, { view: 1, click: 1, my_custom: 1 });
      assert.equal(c.undeclaredUsers, 2);
      assert.equal(c.undeclaredItems, 1);
      assert.equal((await store.getItem('i2'))?.declared, false);
      await store.upsertItems([{ id: 'i2', title: 'now declared' }]);
      assert.equal((await store.getItem('i2'))?.declared, true);
      assert.equal(await store.itemIndex('i2'), 1);
    });

    it('deduplicates events that carry an id', async () => {
      const a = await store.appendEvents([ev('u', 'i', 'view', 1, { id: 'e1' }), ev('u', 'i', 'view', 2, { id: 'e2' }), ev('u', 'i', 'view', 1, { id: 'e1' })]);
      assert.deepEqual([a.accepted, a.duplicates], [2, 1]);
      const b = await store.appendEvents([ev('u', 'i', 'view', 2, { id: 'e2' }), ev('u', 'i', 'view', 3)]);
      assert.deepEqual([b.accepted, b.duplicates], [1, 1]);
      assert.equal((await store.counts()).events, 3);
    });

    it('tells event listeners exactly what was stored, after the commit (when the store can)', async (t) => {
      if (!store.onEvents) return t.skip('this store has no event subscription');
      const seen: { u: number; i: number; type: string; ts: number }[] = [];
      const off = store.onEvents((b) => {
        for (let k = 0; k < b.length; k++) seen.push({ u: b.userIdx[k], i: b.itemIdx[k], type: b.typeNames.get(b.type[k])!, ts: b.timestamp[k] });
      });
      await store.appendEvents([ev('u', 'i', 'view', 1, { id: 'e1' }), ev('u', 'j', 'click', 2), ev('u', 'i', 'view', 1, { id: 'e1' })]);
      const ui = await store.userIndex('u');
      const ii = await store.itemIndex('i');
      const ij = await store.itemIndex('j');
      assert.deepEqual(seen, [{ u: ui, i: ii, type: 'view', ts: ev('u', 'i', 'view', 1).timestamp }, { u: ui, i: ij, type: 'click', ts: ev('u', 'j', 'click', 2).timestamp }], 'the repeated id is not reported');
      await store.appendEvents([{ userId: '', itemId: 'i', type: 'view', timestamp: 3 } as Event]);
      assert.equal(seen.length, 2, 'a refused event is not reported');
      // A large batch without client ids (the multi-row insert path), reported whole and in order.
      const many: Event[] = [];
      for (let m = 0; m < 123; m++) many.push(ev('u', m % 2 ? 'i' : 'j', 'view', 10 + m));
      await store.appendEvents(many);
      assert.equal(seen.length, 2 + 123);
      assert.deepEqual(seen.slice(2).map((x) => x.ts), many.map((e) => e.timestamp));
      assert.ok(seen.slice(2).every((x, m) => x.i === (m % 2 ? ii : ij)));
      off();
      await store.appendEvents([ev('u', 'i', 'view', 4)]);
      assert.equal(seen.length, 2 + 123, 'unsubscribed');
    });

    it('stores served impressions as the equivalent impression events (when the store has the trusted path)', async (t) => {
      if (!store.appendServed) return t.skip('this store has no appendServed');
      await store.appendEvents([ev('known', 'a', 'view', 1), ev('known', 'b', 'view', 2), ev('known', 'c', 'view', 3)]);
      const idx = await Promise.all(['a', 'b', 'c'].map((i) => store.itemIndex(i)));
      const seen: number[] = [];
      const off = store.onEvents?.((b) => seen.push(...b.itemIdx));
      const r = await store.appendServed([
        { userId: 'known', items: Int32Array.from([idx[2], idx[0]]), timestamp: T0 + 10 * 60_000, requestId: 'req-1', scene: 'home', provenance: prov(['led:0:1.5|popular:3:0.2', '']) },
        { userId: 'fresh-user', items: Int32Array.from([idx[1]]), timestamp: T0 + 11 * 60_000, requestId: 'req-2', scene: 'home', provenance: prov(['popular:0:1']) },
      ]);
      off?.();
      assert.deepEqual([r.accepted, r.duplicates, r.errors.length], [3, 0, 0]);
      if (store.onEvents) assert.deepEqual(seen, [idx[2], idx[0], idx[1]], 'listeners hear them');
      const tl = await store.timeline('known', { types: ['impression'] });
      // The same rows as appendEvents of the equivalent events would store.
      await store.appendEvents([
        { userId: 'twin', itemId: 'c', type: 'impression', timestamp: T0 + 10 * 60_000, context: { requestId: 'req-1', position: 0, scene: 'home', sources: 'led:0:1.5|popular:3:0.2' } },
        { userId: 'twin', itemId: 'a', type: 'impression', timestamp: T0 + 10 * 60_000, context: { requestId: 'req-1', position: 1, scene: 'home' } },
      ]);
      const twin = await store.timeline('twin', { types: ['impression'] });
      assert.deepEqual(tl.map(({ seq: _s, userIdx: _u, userId: _i, ...rest }) => rest), twin.map(({ seq: _s, userIdx: _u, userId: _i, ...rest }) => rest));
      assert.equal(tl.length, 2);
      assert.equal((await store.timeline('fresh-user'))[0].context?.requestId, 'req-2', 'an unknown user is created as by appendEvents');
    });

    it('reads served impressions as the equivalent events everywhere: timelines, histories, scans, counts, listeners', async (t) => {
      if (!store.appendServed) return t.skip('this store has no appendServed');
      // A twin store gets every response as the equivalent impression events (appendEvents).
      const twin = await h.create();
      try {
        let seed = 7;
        const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
        const items = Array.from({ length: 40 }, (_, i) => `i${i}`);
        // Same item indices in both: every item first seen in the same order.
        for (const s of [store, twin]) await s.appendEvents(items.map((i) => ev('seeder', i, 'view', 0)));
        const idx = await Promise.all(items.map((i) => store.itemIndex(i)));
        assert.deepEqual(await Promise.all(items.map((i) => twin.itemIndex(i))), idx);
        const heard: string[][] = [[], []];
        const offs = [store, twin].map((s, k) => s.onEvents?.((b) => { for (let i = 0; i < b.length; i++) heard[k].push(`${b.userIdx[i]}:${b.itemIdx[i]}:${b.type[i]}:${b.timestamp[i]}`); }));
        const users = ['heavy', 'light', 'other'];
        for (let step = 0; step < 120; step++) {
          const user = users[rnd(5) < 3 ? 0 : 1 + rnd(2)];
          const minute = 1 + rnd(40); // few distinct minutes: many ties
          if (rnd(3) === 0) {
            const e = ev(user, items[rnd(40)], ['view', 'click', 'purchase'][rnd(3)], minute, rnd(2) ? { value: rnd(5) } : {});
            for (const s of [store, twin]) await s.appendEvents([e]);
            continue;
          }
          const n = 1 + rnd(12);
          const served = Array.from({ length: n }, () => rnd(40));
          const sources = served.map(() => (rnd(3) === 0 ? '' : `led:${rnd(9)}:0.5|popular:${rnd(9)}:0.1`));
          const requestId = `req-${step}`;
          const r: BatchResult = await store.appendServed!([{ userId: user, items: Int32Array.from(served, (i) => idx[i]), timestamp: T0 + minute * 60_000, requestId, scene: 'home', provenance: prov(sources) }]);
          assert.deepEqual([r.accepted, r.errors.length], [n, 0]);
          await twin.appendEvents(served.map((i, position) => ev(user, items[i], 'impression', minute, { context: { requestId, position, scene: 'home', ...(sources[position] ? { sources: sources[position] } : {}) } })));
        }
        for (const off of offs) off?.();
        if (store.onEvents) assert.deepEqual(heard[0], heard[1], 'listeners hear every impression');
        for (const s of [store, twin]) await s.deleteItem('i7');
        const strip = (evs: Awaited<ReturnType<Store['timeline']>>) => evs.map(({ seq: _s, ...rest }) => rest);
        for (let q = 0; q < 60; q++) {
          const user = users[q % 3];
          const want = ['impression', 'view', 'click', 'purchase'].filter(() => rnd(2) === 1);
          const opts = {
            ...(want.length ? { types: want } : {}),
            limit: 1 + rnd(q % 2 ? 15 : 300),
            ...(rnd(3) === 0 ? { before: T0 + rnd(40) * 60_000 } : {}),
            ...(rnd(3) === 0 ? { after: T0 + rnd(20) * 60_000 } : {}),
          };
          const label = `${user} ${JSON.stringify(opts)}`;
          const tl = await store.timeline(user, opts);
          assert.deepEqual(strip(tl), strip(await twin.timeline(user, opts)), `timeline ${label}`);
          assert.ok(tl.every((e) => e.itemId !== 'i7'), 'deleted items are dropped');
          const [a, b] = [await store.history(user, opts), await twin.history(user, opts)];
          assert.deepEqual([a.itemIdx, a.type, a.timestamp, a.value].map((x) => Array.from(x)), [b.itemIdx, b.type, b.timestamp, b.value].map((x) => Array.from(x)), `history ${label}`);
          if (store.histories) {
            const [c] = await store.histories(user, [opts, { types: ['view'], limit: 5 }]);
            assert.deepEqual([c.itemIdx, c.type, c.timestamp, c.value].map((x) => Array.from(x)), [b.itemIdx, b.type, b.timestamp, b.value].map((x) => Array.from(x)), `histories ${label}`);
          }
          if (store.historyItems) {
            const [c, v] = await store.historyItems(user, [opts, { types: ['view'], limit: 5 }]);
            assert.deepEqual(Array.from(c), Array.from(b.itemIdx), `historyItems ${label}`);
            assert.deepEqual(Array.from(v), Array.from((await twin.history(user, { types: ['view'], limit: 5 })).itemIdx), `historyItems (views) ${label}`);
          }
        }
        // One log entry per response: its impressions share a seq.
        const all = await store.timeline('heavy', { types: ['impression'], limit: 10_000 });
        const seqOf = new Map<unknown, Set<number>>();
        for (const e of all) (seqOf.get(e.context?.requestId) ?? seqOf.set(e.context?.requestId, new Set()).get(e.context?.requestId)!).add(e.seq);
        assert.ok(seqOf.size > 10 && [...seqOf.values()].every((x) => x.size === 1));
        for (const opts of [{}, { types: ['impression'] }, { types: ['view', 'impression'], since: T0 + 10 * 60_000, until: T0 + 30 * 60_000, batchSize: 7 }]) {
          const [a, b] = [await collect(store.scanEvents(opts)), await collect(twin.scanEvents(opts))];
          assert.ok(a.item.length > 0);
          assert.deepEqual([a.user, a.item, a.type, a.ts], [b.user, b.item, b.type, b.ts], `scan ${JSON.stringify(opts)}`);
          for (let i = 1; i < a.seq.length; i++) assert.ok(a.seq[i] >= a.seq[i - 1], 'in log order');
        }
        const [ca, cb] = [await store.counts(), await twin.counts()];
        assert.deepEqual([ca.events, ca.eventsByType], [cb.events, cb.eventsByType]);
      } finally {
        await twin.close();
      }
    });

    it('answers history and timeline reads like a brute-force scan (types, ties, limits, bounds, deleted items)', async () => {
      const types = ['impression', 'view', 'click', 'purchase'];
      let seed = 11;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
      const all: Event[] = [];
      for (let e = 0; e < 600; e++) {
        // Few distinct minutes: many ties; impressions dominate, as served.
        const type = types[rnd(10) < 6 ? 0 : 1 + rnd(3)];
        all.push(ev(rnd(3) ? 'heavy' : 'light', `i${rnd(40)}`, type, rnd(60), type === 'purchase' ? { value: rnd(5) } : {}));
      }
      for (let a = 0; a < all.length; a += 100) await store.appendEvents(all.slice(a, a + 100));
      await store.deleteItem('i7');
      const code = new Map<string, number>();
      for (const t of types) code.set(t, await store.eventTypeCode(t));
      const idx = new Map<string, number>();
      for (let i = 0; i < 40; i++) idx.set(`i${i}`, await store.itemIndex(`i${i}`));
      const logged = all.map((e, seq) => ({ ...e, seq })).filter((e) => e.itemId !== 'i7');
      for (let q = 0; q < 40; q++) {
        const user = q % 2 ? 'heavy' : 'light';
        const want = types.filter(() => rnd(2) === 1);
        const limit = 1 + rnd(q % 3 ? 30 : 400);
        const before = rnd(3) === 0 ? T0 + rnd(60) * 60_000 : undefined;
        const after = rnd(3) === 0 ? T0 + rnd(30) * 60_000 : undefined;
        const opts = { ...(want.length ? { types: want } : {}), limit, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) };
        const match = logged.filter((e) => e.userId === user && (!want.length || want.includes(e.type)) && (before === undefined || e.timestamp < before) && (after === undefined || e.timestamp >= after));
        // timeline: newest first, ties by log order (latest first)
        const tl = await store.timeline(user, opts);
        const byLog = [...match].sort((x, y) => y.timestamp - x.timestamp || y.seq - x.seq).slice(0, limit);
        assert.deepEqual(tl.map((e) => [e.itemId, e.type, e.timestamp]), byLog.map((e) => [e.itemId, e.type, e.timestamp]), `timeline ${JSON.stringify(opts)}`);
        // history: newest first, ties by type, item and value, descending (the index order)
        const h = await store.history(user, opts);
        const byIndex = [...match]
          .sort((x, y) => y.timestamp - x.timestamp || code.get(y.type)! - code.get(x.type)! || idx.get(y.itemId)! - idx.get(x.itemId)! || (y.value ?? -1) - (x.value ?? -1))
          .slice(0, limit);
        assert.deepEqual(Array.from(h.itemIdx), byIndex.map((e) => idx.get(e.itemId)), `history items ${JSON.stringify(opts)}`);
        assert.deepEqual(Array.from(h.type), byIndex.map((e) => code.get(e.type)), `history types ${JSON.stringify(opts)}`);
        assert.deepEqual(Array.from(h.timestamp), byIndex.map((e) => e.timestamp));
      }
    });

    it('returns timelines most recent first, filtered by type, time and limit, with context', async () => {
      const evs: Event[] = [];
      for (let m = 0; m < 30; m++) evs.push(ev('u1', `i${m % 7}`, m % 3 === 0 ? 'click' : 'view', m, { context: { scene: 'home', position: m % 5, requestId: `r${m}`, device: 'ios', campaign: 'c1' } }));
      evs.push(ev('u2', 'i1', 'view', 100));
      await store.appendEvents(evs);
      const all = await store.timeline('u1', { limit: 1000 });
      assert.equal(all.length, 30);
      for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].timestamp >= all[i].timestamp);
      assert.equal(all[0].timestamp, T0 + 29 * 60_000);
      assert.deepEqual(all[0].context, { scene: 'home', position: 4, requestId: 'r29', device: 'ios', campaign: 'c1' });
      assert.equal(all[0].itemId, 'i1');
      const clicks = await store.timeline('u1', { types: ['click'], limit: 3 });
      assert.deepEqual(clicks.map((e) => e.timestamp), [27, 24, 21].map((m) => T0 + m * 60_000));
      assert.ok(clicks.every((e) => e.type === 'click' && e.userId === 'u1'));
      const windowed = await store.timeline('u1', { after: T0 + 10 * 60_000, before: T0 + 12 * 60_000 });
      assert.deepEqual(windowed.map((e) => e.timestamp), [T0 + 11 * 60_000, T0 + 10 * 60_000]);
      assert.deepEqual(await store.timeline('nobody'), []);
      assert.deepEqual(await store.timeline('u1', { types: ['never_seen'] }), []);
      assert.equal((await store.timeline('u1')).length, 30);
      assert.equal((await store.timeline('u1', { limit: 5 })).length, 5);
      const h = await store.history('u1', { types: ['click'], limit: 3 });
      assert.equal(h.length, 3);
      assert.deepEqual([...h.timestamp], [27, 24, 21].map((m) => T0 + m * 60_000));
      assert.deepEqual([...h.itemIdx], clicks.map((e) => e.itemIdx));
      const clickCode = await store.eventTypeCode('click');
      assert.ok(h.type.every((t) => t === clickCode));
      assert.equal((await store.history('u1', { limit: 1000 })).length, 30);
      assert.equal((await store.history('nobody')).length, 0);
      // Several histories at once (optional): each exactly what history() reads.
      if (store.histories) {
        const list = [{ types: ['click'], limit: 3 }, { limit: 1000 }, { types: ['never_seen'] }, { types: ['view', 'click'], limit: 7, before: T0 + 20 * 60_000 }];
        const cols = (x: Awaited<ReturnType<Store['history']>>) => [x.itemIdx, x.type, x.timestamp, x.value].map((c) => Array.from(c));
        const many = await store.histories('u1', list);
        assert.equal(many.length, list.length);
        for (let i = 0; i < list.length; i++) assert.deepEqual(cols(many[i]), cols(await store.history('u1', list[i])), JSON.stringify(list[i]));
        assert.equal(many[0].length, 3);
        assert.deepEqual((await store.histories('nobody', list)).map((x) => x.length), [0, 0, 0, 0]);
        assert.deepEqual(await store.histories('u1', []), []);
      }
      // Their item indices alone (optional): each exactly history()'s itemIdx.
      if (store.historyItems) {
        const list = [{ types: ['click'], limit: 3 }, { limit: 1000 }, { types: ['never_seen'] }, { types: ['view', 'click'], limit: 7, before: T0 + 20 * 60_000 }, { types: ['view'], limit: 0 }];
        const items = await store.historyItems('u1', list);
        assert.equal(items.length, list.length);
        for (let i = 0; i < list.length; i++) assert.deepEqual(Array.from(items[i]), Array.from((await store.history('u1', list[i])).itemIdx), JSON.stringify(list[i]));
        assert.deepEqual(Array.from(items[0]), clicks.map((e) => e.itemIdx));
        assert.deepEqual((await store.historyItems('nobody', list)).map((x) => x.length), [0, 0, 0, 0, 0]);
        assert.deepEqual(await store.historyItems('u1', []), []);
        // Deleted items are dropped, and a read they shortened is read again to reach the limit.
        await store.deleteItem('i3');
        await store.deleteItem('i5');
        const del = [await store.itemIndex('i3'), await store.itemIndex('i5')];
        for (const o of [{ types: ['view'], limit: 4 }, { types: ['view', 'click'], limit: 12 }, { types: ['click'], limit: 1 }, { types: ['view', 'click'], limit: 100 }]) {
          const [got] = await store.historyItems('u1', [o]);
          const want = (await store.history('u1', o)).itemIdx;
          assert.deepEqual(Array.from(got), Array.from(want), JSON.stringify(o));
          assert.ok(Array.from(got).every((i) => !del.includes(i)), 'no deleted item');
        }
        assert.equal((await store.historyItems('u1', [{ types: ['view', 'click'], limit: 12 }]))[0].length, 12, 'limit reached past the deleted items');
      }
    });

    it('deleting a user removes the user and all their events', async () => {
      await store.upsertUsers([{ id: 'u1', attributes: { a: 1 } }, { id: 'u2' }]);
      await store.appendEvents([ev('u1', 'i1', 'view', 1), ev('u1', 'i2', 'view', 2), ev('u2', 'i1', 'view', 3)]);
      assert.equal(await store.deleteUser('u1'), true);
      assert.equal(await store.deleteUser('u1'), false);
      assert.equal(await store.getUser('u1'), undefined);
      assert.equal(await store.userIndex('u1'), -1);
      assert.deepEqual(await store.timeline('u1'), []);
      const c = await store.counts();
      assert.equal(c.events, 1);
      assert.equal(c.users, 1);
      const scanned = await collect(store.scanEvents());
      assert.deepEqual(scanned.user, [1]);
      // A returning user gets a new index: indices are never reused.
      await store.upsertUsers([{ id: 'u1' }]);
      assert.equal(await store.userIndex('u1'), 2);
    });

    it('deleting an item hides it everywhere; upserting it again restores it', async () => {
      await store.upsertItems([{ id: 'i1' }, { id: 'i2' }]);
      await store.appendEvents([ev('u1', 'i1', 'view', 1), ev('u1', 'i2', 'view', 2)]);
      assert.equal(await store.deleteItem('i1'), true);
      assert.equal(await store.deleteItem('i1'), false);
      assert.equal(await store.getItem('i1'), undefined);
      assert.equal(await store.itemIndex('i1'), -1);
      assert.deepEqual((await store.timeline('u1')).map((e) => e.itemId), ['i2']);
      assert.deepEqual([...(await store.history('u1')).itemIdx], [1]);
      assert.deepEqual((await collect(store.scanEvents())).item, [1]);
      const ids: string[] = [];
      for await (const b of store.scanItems()) ids.push(...b.map((x) => x.id));
      assert.deepEqual(ids, ['i2']);
      assert.equal((await store.counts()).items, 1);
      assert.deepEqual(await store.itemIds(), ['', 'i2']);
      await store.upsertItems([{ id: 'i1' }]);
      assert.equal(await store.itemIndex('i1'), 0);
      assert.deepEqual((await store.timeline('u1')).map((e) => e.itemId), ['i2', 'i1']);
    });

    it('scans events in log order in columnar batches with filters', async () => {
      const evs: Event[] = [];
      for (let i = 0; i < 250; i++) evs.push(ev(`u${i % 10}`, `i${i % 13}`, i % 2 ? 'click' : 'view', i, { value: i }));
      await store.appendEvents(evs);
      const all = await collect(store.scanEvents({ batchSize: 64 }));
      assert.equal(all.seq.length, 250);
      for (let i = 1; i < 250; i++) assert.ok(all.seq[i] > all.seq[i - 1]);
      const types = await store.eventTypes();
      const clickCode = await store.eventTypeCode('click');
      assert.equal(types.get(clickCode), 'click');
      assert.equal(await store.eventTypeCode('nope'), -1);
      const clicks = await collect(store.scanEvents({ types: ['click'], batchSize: 50 }));
      assert.equal(clicks.seq.length, 125);
      assert.ok(clicks.type.every((t) => t === clickCode));
      const windowed = await collect(store.scanEvents({ since: T0 + 10 * 60_000, until: T0 + 20 * 60_000 }));
      assert.equal(windowed.seq.length, 10);
      const tail = await collect(store.scanEvents({ afterSeq: all.seq[239] }));
      assert.equal(tail.seq.length, 10);
      let values = 0;
      for await (const b of store.scanEvents()) for (let i = 0; i < b.length; i++) values += b.value[i];
      assert.equal(values, (249 * 250) / 2);
      assert.equal((await collect(store.scanEvents({ types: ['never'] }))).seq.length, 0);
    });

    it('writes a batch and its checkpoint atomically', async () => {
      const r = await store.ingest({
        users: [{ id: 'u1' }],
        items: [{ id: 'i1' }],
        events: [ev('u1', 'i1', 'view', 1)],
        checkpoint: { key: 'import:a', value: '{"offset":10}' },
      });
      assert.deepEqual([r.users.accepted, r.items.accepted, r.events.accepted], [1, 1, 1]);
      assert.equal(await store.getCheckpoint('import:a'), '{"offset":10}');
      await store.ingest({ checkpoint: { key: 'import:a', value: '{"offset":20}' } });
      assert.equal(await store.getCheckpoint('import:a'), '{"offset":20}');
      await store.deleteCheckpoint('import:a');
      assert.equal(await store.getCheckpoint('import:a'), undefined);
    });

    it('reports counts, ids and index sizes consistently', async () => {
      await store.upsertItems([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
      await store.appendEvents([ev('x', 'a', 'view', 1), ev('y', 'c', 'purchase', 2, { value: 3 })]);
      assert.deepEqual(await store.itemIds(), ['a', 'b', 'c']);
      assert.deepEqual(await store.userIds(), ['x', 'y']);
      const c = await store.counts();
      assert.deepEqual([c.users, c.items, c.events, c.deletedItems], [2, 3, 2, 0]);
    });

    it('refuses events naming unknown entities when configured to', async () => {
      const strict = await h.create({ unknownEntities: 'reject', strictEventTypes: true, customEventTypes: ['wishlist'] });
      try {
        await strict.upsertUsers([{ id: 'u1' }]);
        await strict.upsertItems([{ id: 'i1' }]);
        const r = await strict.appendEvents([ev('u1', 'i1', 'view', 1), ev('u9', 'i1', 'view', 2), ev('u1', 'i9', 'view', 3), ev('u1', 'i1', 'bogus', 4), ev('u1', 'i1', 'wishlist', 5)]);
        assert.equal(r.accepted, 2);
        assert.deepEqual(r.errors.map((e) => [e.index, e.code]), [[1, 'UNKNOWN_USER'], [2, 'UNKNOWN_ITEM'], [3, 'UNKNOWN_EVENT_TYPE']]);
        assert.equal(await strict.userIndex('u9'), -1);
      } finally {
        await strict.close();
      }
    });

    it('bulk-loads with the same results as normal appends (when the store can)', async () => {
      if (!isBulkLoadable(store)) return;
      await store.beginBulkLoad();
      await store.appendEvents([ev('u1', 'i1', 'view', 1, { id: 'a' }), ev('u1', 'i2', 'view', 2, { id: 'b' })]);
      await store.appendEvents([ev('u1', 'i1', 'view', 1, { id: 'a' }), ev('u2', 'i2', 'click', 3)]);
      assert.equal((await store.timeline('u1')).length, 3, 'reads stay correct during the load');
      assert.deepEqual(await store.endBulkLoad(), { duplicatesRemoved: 1 });
      assert.equal((await store.counts()).events, 3);
      const again = await store.appendEvents([ev('u1', 'i2', 'view', 2, { id: 'b' })]);
      assert.equal(again.duplicates, 1, 'the id index is back after the load');
    });

    if (h.reopen) {
      it('finishes a bulk load interrupted by a crash on the next open', async () => {
        if (!isBulkLoadable(store)) return;
        await store.beginBulkLoad();
        await store.appendEvents([ev('u1', 'i1', 'view', 1, { id: 'a' }), ev('u1', 'i1', 'view', 1, { id: 'a' })]);
        store = await h.reopen!(store);
        assert.equal((await store.counts()).events, 1);
        assert.equal((await store.appendEvents([ev('u1', 'i1', 'view', 1, { id: 'a' })])).duplicates, 1);
      });

      it('persists everything across a reopen', async () => {
        await store.upsertUsers([{ id: 'u1' }]);
        await store.upsertItems([{ id: 'i1', categories: ['c'] }]);
        await store.appendEvents([ev('u1', 'i1', 'click', 1, { context: { requestId: 'r1' } })]);
        store = await h.reopen!(store);
        assert.equal(await store.itemIndex('i1'), 0);
        assert.deepEqual((await store.getItem('i1'))?.categories, ['c']);
        const tl = await store.timeline('u1');
        assert.equal(tl.length, 1);
        assert.equal(tl[0].type, 'click');
        assert.equal(tl[0].context?.requestId, 'r1');
        await store.appendEvents([ev('u1', 'i2', 'view', 2)]);
        assert.equal(await store.itemIndex('i2'), 1);
      });
    }
  });
}
