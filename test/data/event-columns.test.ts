import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { checkEventColumns, decodeEvents, encodeEvents, IdKeySpace } from '../../src/data/event-columns.js';
import { checkEvent } from '../../src/data/schema.js';
import type { Event } from '../../src/data/model.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { AppendedEvents, SqliteStoreOptions } from '../../src/index.js';
import { seededUniform } from '../../src/math/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-columns-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Random events, most of them well formed and some broken in every way the store checks or
 * the columns cannot carry (wrong types, out-of-range values, odd context values).
 */
function randomEvents(n: number, seed: number): Event[] {
  const r = seededUniform(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const out: Event[] = [];
  for (let i = 0; i < n; i++) {
    const e: Record<string, unknown> = {
      userId: `u${Math.floor(r() * 40)}`,
      itemId: `i${Math.floor(r() * 60)}`,
      type: pick(['view', 'click', 'purchase', 'impression', 'my_custom']),
      timestamp: 1_700_000_000_000 + Math.floor(r() * 1e9),
    };
    if (r() < 0.3) e.value = Math.round(r() * 50) / 10;
    if (r() < 0.5) e.id = `e${Math.floor(r() * 5000)}`; // some ids repeat: duplicates
    if (r() < 0.6) {
      const ctx: Record<string, unknown> = {};
      if (r() < 0.7) ctx.scene = pick(['home', 'detail', '']);
      if (r() < 0.5) ctx.position = Math.floor(r() * 20);
      if (r() < 0.5) ctx.requestId = `r${Math.floor(r() * 100)}`;
      if (r() < 0.3) ctx.device = pick(['ios', 'web']);
      if (r() < 0.2) ctx.campaign = pick(['a', 'b', 7, true, null, { nested: [1, 'x'] }]);
      e.context = ctx;
    }
    if (r() < 0.15) {
      // one defect (or an odd but valid shape)
      switch (Math.floor(r() * 16)) {
        case 0: e.userId = ''; break;
        case 1: e.itemId = 'x'.repeat(300); break;
        case 2: e.type = ''; break;
        case 3: e.type = 't'.repeat(65); break;
        case 4: e.timestamp = -5; break;
        case 5: e.timestamp = '2024-01-02T03:04:05Z'; break; // valid, not a number
        case 6: e.value = 'high'; break;
        case 7: e.value = NaN; break;
        case 8: e.id = 42; break; // valid: ids may be numbers
        case 9: e.id = ''; break;
        case 10: e.context = { position: -1 }; break;
        case 11: e.context = { position: 1.5, scene: 'home' }; break;
        case 12: e.context = { scene: 3 }; break;
        case 13: e.context = null; break;
        case 14: e.userId = 12345; break; // valid: becomes '12345'
        case 15: e.context = { extra: undefined, weird: -0, s: 'x' }; break;
      }
    }
    out.push(e as unknown as Event);
  }
  return out;
}

describe('event columns', () => {
  it('decode(encode(events)) gives the same events, odd ones included', () => {
    const events = randomEvents(3000, 1);
    const cols = encodeEvents(events);
    assert.equal(cols.n, events.length);
    assert.ok(cols.whole.length > 0, 'some events travel whole');
    assert.ok(cols.userId.values.length < 100, 'repeated ids are stored once');
    const back = decodeEvents(cols);
    for (let i = 0; i < events.length; i++) assert.deepEqual(back[i], events[i], `event ${i}`);
    // and through a structured clone, as between threads
    const cloned = decodeEvents(structuredClone(cols));
    for (let i = 0; i < events.length; i++) assert.deepEqual(cloned[i], events[i], `cloned event ${i}`);
  });

  it('keyed ids: the same id has the same key in every batch of a key space, a new space past the limit', () => {
    const keys = new IdKeySpace('t', 50);
    const seen = new Map<string, number>();
    let space = '';
    for (let b = 0; b < 5; b++) {
      const events = randomEvents(400, 30 + b);
      const cols = encodeEvents(events, keys);
      const back = decodeEvents(cols);
      for (let i = 0; i < events.length; i++) assert.deepEqual(back[i], events[i], `batch ${b} event ${i}`);
      assert.ok(cols.keySpace && cols.userId.keys && cols.itemId.keys);
      assert.equal(cols.userId.keys.length, cols.userId.values.length);
      assert.equal(new Set(cols.userId.values).size, cols.userId.values.length, 'each id once per batch');
      if (cols.keySpace !== space) {
        // a new space: keys start again
        seen.clear();
        space = cols.keySpace;
      }
      for (const [c, v] of cols.userId.values.entries()) {
        const k: number = cols.userId.keys![c];
        const before = seen.get('u' + v);
        if (before !== undefined) assert.equal(k, before, `user ${v}`);
        seen.set('u' + v, k);
      }
      for (const [c, v] of cols.itemId.values.entries()) {
        const k: number = cols.itemId.keys![c];
        const before = seen.get('i' + v);
        if (before !== undefined) assert.equal(k, before, `item ${v}`);
        seen.set('i' + v, k);
      }
    }
    // 60 distinct items (and some odd ids) overflow a limit of 50: the space changed
    assert.notEqual(space, 't/0');
  });

  it('checkEventColumns says what checkEvent says of each event', () => {
    for (const opts of [{}, { strictEventTypes: true, customEventTypes: ['my_custom'] }, { strictEventTypes: true }]) {
      const events = randomEvents(3000, 2);
      const got = checkEventColumns(encodeEvents(events), opts);
      let bad = 0;
      for (let i = 0; i < events.length; i++) {
        const want = checkEvent(events[i], opts);
        assert.deepEqual(got[i], want.ok ? null : want.errors, `event ${i}: ${JSON.stringify(events[i])}`);
        if (!want.ok) bad++;
      }
      assert.ok(bad > 50, 'the sample has refused events');
    }
  });
});

describe('SqliteStore.ingestEventColumns', () => {
  let k = 0;
  const dump = (path: string) => {
    const db = new Database(path, { readonly: true });
    try {
      return {
        events: db.prepare('SELECT seq, user_idx, item_idx, type, value, ts, ext_id, request_id, scene, position, device, extra FROM events ORDER BY seq').all(),
        users: db.prepare('SELECT idx, id, declared FROM users ORDER BY idx').all(),
        items: db.prepare('SELECT idx, id, declared FROM items ORDER BY idx').all(),
        types: db.prepare('SELECT code, name FROM event_types ORDER BY code').all(),
        checkpoints: db.prepare('SELECT key, value FROM checkpoints ORDER BY key').all(),
      };
    } finally {
      db.close();
    }
  };

  for (const [name, opts, listen, keyed] of [
    ['defaults', {}, false, false],
    ['strict types, unknown entities refused, a listener', { strictEventTypes: true, customEventTypes: ['my_custom'], unknownEntities: 'reject' }, true, false],
    ['a listener (row-by-row inserts)', {}, true, false],
    ['ids keyed across batches', {}, false, true],
    ['ids keyed across batches, unknown entities refused', { unknownEntities: 'reject' }, false, true],
  ] as [string, SqliteStoreOptions, boolean, boolean][]) {
    it(`stores the same rows with the same results as ingest({ events }): ${name}`, async () => {
      const keys = keyed ? new IdKeySpace('k', 1000) : undefined;
      const paths = [join(dir, `a${k}.db`), join(dir, `b${k++}.db`)];
      const stores = await Promise.all(paths.map((p) => SqliteStore.open(p, opts)));
      const heard: AppendedEvents[][] = [[], []];
      try {
        for (const [s, store] of stores.entries()) {
          // the same known users and items in both (for 'reject')
          await store.upsertUsers(Array.from({ length: 30 }, (_, i) => ({ id: `u${i}` })));
          await store.upsertItems(Array.from({ length: 45 }, (_, i) => ({ id: `i${i}` })));
          if (listen) store.onEvents((e) => heard[s].push(structuredClone({ ...e, typeNames: [...e.typeNames] }) as never));
        }
        for (let b = 0; b < 4; b++) {
          const events = randomEvents(700, 10 + b);
          const cp = { key: 'import:x', value: `batch ${b}` };
          const want = (await stores[0].ingest({ events, checkpoint: cp })).events;
          const got = await stores[1].ingestEventColumns(encodeEvents(events, keys), cp);
          assert.deepEqual(got, want, `batch ${b}`);
          assert.ok(want.errors.length > 0 && want.accepted > 0);
        }
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
      assert.deepEqual(dump(paths[1]), dump(paths[0]));
      assert.deepEqual(heard[1], heard[0]);
      if (listen) assert.ok(heard[0].length > 0);
    });
  }

  it('keyed ids are not trusted past a deleted user or a rolled-back write', async () => {
    const store = await SqliteStore.open(join(dir, `keyed-${k++}.db`));
    try {
      const keys = new IdKeySpace('k');
      const ev = (userId: string, itemId: string, t: number): Event => ({ userId, itemId, type: 'view', timestamp: 1_700_000_000_000 + t });
      assert.equal((await store.ingestEventColumns(encodeEvents([ev('u1', 'i1', 1), ev('u2', 'i1', 2)], keys))).accepted, 2);
      // u1 deleted between two batches of the same key space: its next event makes a new u1
      assert.equal(await store.deleteUser('u1'), true);
      assert.equal((await store.ingestEventColumns(encodeEvents([ev('u1', 'i1', 3)], keys))).accepted, 1);
      const t1 = await store.timeline('u1', { limit: 10 });
      assert.deepEqual(t1.map((e) => e.timestamp), [1_700_000_000_003]);
      // a write that fails after making user u9: rolled back, u9's index must not be reused
      await assert.rejects(store.ingestEventColumns(encodeEvents([ev('u9', 'i1', 4)], keys), { key: 'cp', value: null as unknown as string }));
      assert.equal((await store.ingestEventColumns(encodeEvents([ev('u9', 'i1', 5)], keys))).accepted, 1);
      const t9 = await store.timeline('u9', { limit: 10 });
      assert.deepEqual(t9.map((e) => e.timestamp), [1_700_000_000_005]);
      assert.equal((await store.counts()).events, 3); // u1's first event went with it
    } finally {
      await store.close();
    }
  });
});
