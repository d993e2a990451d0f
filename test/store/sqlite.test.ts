import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from '../../src/store/sqlite.js';
import { encodeEvents } from '../../src/data/event-columns.js';
import { storeConformance } from './conformance.js';
import { encodeProvenance, provenanceSources } from '../../src/data/provenance.js';
import type { Store } from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeConformance('sqlite', {
  create: (opts) => SqliteStore.open(join(dir, `s${n++}.db`), opts),
  reopen: async (store: Store) => {
    const path = (store as SqliteStore).path;
    await store.close();
    return SqliteStore.open(path);
  },
});

describe('SqliteStore specifics', () => {
  it('reads the file through a memory map of mmapMb MiB when asked (a server when configured), the same data either way', async () => {
    const path = join(dir, 'mmap.db');
    const plain = await SqliteStore.open(path);
    await plain.appendEvents(Array.from({ length: 300 }, (_, i) => ({ userId: `u${i % 7}`, itemId: `i${i % 40}`, type: 'view', timestamp: 1000 + i })));
    const mapped = await SqliteStore.open(path, { mmapMb: 16 });
    type WithDb = { db: { pragma(p: string, o: { simple: true }): unknown } };
    assert.equal((mapped as unknown as WithDb).db.pragma('mmap_size', { simple: true }), 16 * 1048576);
    assert.equal((plain as unknown as WithDb).db.pragma('mmap_size', { simple: true }), 0);
    for (let u = 0; u < 7; u++) assert.deepEqual(await mapped.timeline(`u${u}`, { limit: 100 }), await plain.timeline(`u${u}`, { limit: 100 }));
    await mapped.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'click', timestamp: 5000 }]);
    assert.equal((await plain.timeline('u1', { limit: 1 }))[0].type, 'click', "the other connection sees the mapped one's write");
    await Promise.all([plain.close(), mapped.close()]);
    for (const bad of [-1, 1.5]) await assert.rejects(SqliteStore.open(path, { mmapMb: bad }), /mmapMb must be an integer >= 0/);
    const { openAppStore } = await import('../../src/server/tenants.js');
    const served = await openAppStore({ name: 'a', db: path, store: { mmapMb: 8 } } as never);
    assert.equal((served as unknown as WithDb).db.pragma('mmap_size', { simple: true }), 8 * 1048576);
    await served.close();
    const unmapped = await openAppStore({ name: 'a', db: path, store: {} } as never);
    assert.equal((unmapped as unknown as WithDb).db.pragma('mmap_size', { simple: true }), 0, 'off unless configured');
    await unmapped.close();
  });

  it('uses WAL journaling and refuses a newer schema', async () => {
    const path = join(dir, 'wal.db');
    const s = await SqliteStore.open(path);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.prepare("UPDATE meta SET value = '999' WHERE key = 'schema_version'").run();
    db.close();
    await assert.rejects(SqliteStore.open(path), /schema version 999 is newer/);
  });

  it("splits a store's single user index into the impressions and the rest at open; a history of views never walks the impressions", async () => {
    const path = join(dir, 'old-index.db');
    const s = await SqliteStore.open(path);
    const evs = [];
    for (let m = 0; m < 30; m++) evs.push({ userId: 'u', itemId: `i${m}`, type: 'view', timestamp: 1000 + m });
    for (let m = 0; m < 3000; m++) evs.push({ userId: 'u', itemId: `i${m % 50}`, type: 'impression', timestamp: 5000 + m });
    await s.appendEvents(evs);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const indexes = (db: InstanceType<typeof Database>) => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").pluck().all() as string[]).sort();
    // As stores were before: one index over every type.
    let db = new Database(path);
    db.exec('DROP INDEX events_user_ts_rest; DROP INDEX events_user_ts_imp; CREATE INDEX events_user_ts ON events (user_idx, ts, type, item_idx, value);');
    db.close();
    const again = await SqliteStore.open(path);
    const h = await again.history('u', { types: ['view'], limit: 10 });
    assert.deepEqual(Array.from(h.timestamp), Array.from({ length: 10 }, (_, i) => 1029 - i));
    assert.equal((await again.timeline('u', { limit: 5 })).map((e) => e.timestamp).join(), '7999,7998,7997,7996,7995');
    db = new Database(path, { readonly: true });
    assert.deepEqual(indexes(db).filter((n) => n.startsWith('events_user')), ['events_user_dislike', 'events_user_ts_imp', 'events_user_ts_rest']);
    const imp = db.prepare("SELECT code FROM event_types WHERE name = 'impression'").pluck().get() as number;
    const view = db.prepare("SELECT code FROM event_types WHERE name = 'view'").pluck().get() as number;
    // The store's own history statement reads the views' range of the rest index, no sort.
    const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT e.item_idx, e.ts FROM events e WHERE e.user_idx = 0 AND e.type != ${imp} AND e.type IN (${view}) ORDER BY e.ts DESC LIMIT 10`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, /COVERING INDEX events_user_ts_rest/);
    assert.doesNotMatch(plan, /TEMP B-TREE/);
    db.close();
    await again.close();
  });

  it('creates the impression and dislike types with a new store (their codes are part of the user indexes)', async () => {
    const s = await SqliteStore.open(':memory:');
    assert.ok((await s.eventTypeCode('impression')) >= 0);
    assert.ok((await s.eventTypeCode('dislike')) >= 0);
    await s.close();
  });

  it("reads a user's dislikes from their own index (made at open where missing), not through the user's views", async () => {
    const path = join(dir, 'dislikes.db');
    const s = await SqliteStore.open(path);
    const evs = [];
    for (let m = 0; m < 3000; m++) evs.push({ userId: 'u', itemId: `i${m % 500}`, type: 'view', timestamp: 1000 + m });
    for (let m = 0; m < 3; m++) evs.push({ userId: 'u', itemId: `d${m}`, type: 'dislike', timestamp: 2000 + m });
    evs.push({ userId: 'v', itemId: 'd9', type: 'dislike', timestamp: 2500 });
    await s.appendEvents(evs);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    let db = new Database(path);
    db.exec('DROP INDEX events_user_dislike'); // a store from before the index
    db.close();
    const again = await SqliteStore.open(path);
    const h = await again.history('u', { types: ['dislike'], limit: 1000 });
    assert.deepEqual(Array.from(h.timestamp), [2002, 2001, 2000]);
    assert.deepEqual((await again.timeline('u', { types: ['dislike'], limit: 2 })).map((e) => e.itemId), ['d2', 'd1']);
    assert.deepEqual((await again.timeline('u', { types: ['dislike', 'view'], limit: 2 })).map((e) => e.timestamp), [3999, 3998]);
    await again.close();
    db = new Database(path, { readonly: true });
    const dis = db.prepare("SELECT code FROM event_types WHERE name = 'dislike'").pluck().get() as number;
    const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT e.item_idx, e.ts FROM events e WHERE e.user_idx = 0 AND e.type = ${dis} ORDER BY e.ts DESC LIMIT 1000`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    assert.match(plan, /COVERING INDEX events_user_dislike/);
    assert.doesNotMatch(plan, /TEMP B-TREE/);
    db.close();
  });

  it('writes read limits into its statements: any number of distinct limits, each read exact; a limit that is not a number is refused', async () => {
    const s = await SqliteStore.open(join(dir, 'limits.db'));
    const evs = [];
    for (let m = 0; m < 400; m++) evs.push({ userId: 'u', itemId: `i${m}`, type: m % 5 === 0 ? 'impression' : 'view', timestamp: 1000 + m });
    await s.appendEvents(evs);
    // More distinct texts than the connection keeps prepared (256): the oldest are evicted and
    // prepared again when asked for.
    for (const limit of [...Array.from({ length: 300 }, (_, i) => i), 7, 0, 299]) {
      const all = await s.timeline('u', { limit });
      assert.equal(all.length, Math.min(limit, 400));
      if (limit > 0) assert.equal(all[0].timestamp, 1399);
      const views = await s.history('u', { types: ['view'], limit });
      assert.equal(views.length, Math.min(limit, 320));
    }
    assert.equal((await s.timeline('u', { limit: 2.7 })).length, 2);
    await assert.rejects(s.timeline('u', { limit: NaN }), /limit must be a non-negative number/);
    await assert.rejects(s.history('u', { limit: -1 }), /limit must be a non-negative number/);
    await s.close();
  });

  it('drops the unread request-id index of older stores at open; a bulk load keeps the page cache it had', async () => {
    const path = join(dir, 'request-index.db');
    const s = await SqliteStore.open(path, { cacheMb: 48 });
    await s.appendEvents([{ userId: 'u', itemId: 'i', type: 'impression', timestamp: 1000, context: { requestId: 'r1' } }]);
    await s.beginBulkLoad();
    await s.appendEvents([{ userId: 'u', itemId: 'j', type: 'click', timestamp: 2000, context: { requestId: 'r1' } }]);
    await s.endBulkLoad();
    // the index builds ran with a small cache; the connection has its own back
    assert.equal((s as unknown as { db: { pragma(q: string, o: object): unknown } }).db.pragma('cache_size', { simple: true }), -48 * 1024);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const indexes = (db: InstanceType<typeof Database>) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").pluck().all() as string[];
    let db = new Database(path);
    assert.ok(!indexes(db).includes('events_request'));
    db.exec('CREATE INDEX events_request ON events (request_id) WHERE request_id IS NOT NULL'); // as stores were
    db.close();
    const again = await SqliteStore.open(path);
    assert.deepEqual((await again.timeline('u', { limit: 5 })).map((e) => e.context?.requestId), ['r1', 'r1']);
    await again.close();
    db = new Database(path, { readonly: true });
    assert.ok(!indexes(db).includes('events_request'));
    db.close();
  });

  it('answers calls after close with a clear error', async () => {
    const s = await SqliteStore.open(':memory:');
    await s.close();
    await assert.rejects(s.appendEvents([]), /store is closed/);
  });

  it('counts a revision of the items with every item write, in the file', async () => {
    const path = join(dir, 'revision.db');
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path); // another process sharing the file
    const r0 = a.itemsRevision();
    await a.upsertItems([{ id: 'i1' }, { id: 'i2' }]);
    const r1 = b.itemsRevision();
    assert.ok(r1 > r0, 'an upsert moves it, for every connection');
    await a.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'view', timestamp: 1 }]);
    assert.equal(b.itemsRevision(), r1, 'events of known items do not');
    await a.appendEvents([{ userId: 'u1', itemId: 'i9', type: 'view', timestamp: 2 }]);
    const r2 = b.itemsRevision();
    assert.ok(r2 > r1, 'an item created by an event does');
    assert.equal(await b.deleteItem('i2'), true);
    assert.ok(a.itemsRevision() > r2, 'a deletion does');
    await a.close();
    await b.close();
  });

  it("hides items deleted through another connection from a user's history, and shows them again when restored", async () => {
    const path = join(dir, 'history-deleted.db');
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path);
    await a.upsertItems(['i0', 'i1', 'i2', 'i3'].map((id) => ({ id })));
    await a.appendEvents(['i0', 'i1', 'i2', 'i3'].map((itemId, t) => ({ userId: 'u1', itemId, type: 'view', timestamp: 10 + t })));
    const hist = async (limit?: number) => [...(await a.history('u1', { limit })).itemIdx];
    assert.deepEqual(await hist(), [3, 2, 1, 0]);
    await b.deleteItem('i2');
    assert.deepEqual(await hist(), [3, 1, 0]);
    // A deleted item inside the window: still the `limit` most recent live events.
    assert.deepEqual(await hist(2), [3, 1]);
    assert.deepEqual(await hist(3), [3, 1, 0]);
    await a.deleteItem('i3'); // through this connection
    assert.deepEqual(await hist(2), [1, 0]);
    await b.upsertItems([{ id: 'i2' }, { id: 'i3' }]);
    assert.deepEqual(await hist(), [3, 2, 1, 0]);
    await a.close();
    await b.close();
  });

  it('a user deleted through another connection (another worker) stays deleted: later events make a new user', async () => {
    const path = join(dir, 'deleted-elsewhere.db');
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path);
    await a.upsertItems([{ id: 'i1' }]);
    await a.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'view', timestamp: 1 }]);
    assert.equal((await a.timeline('u1')).length, 1); // a has u1's index in its cache
    assert.equal(await b.deleteUser('u1'), true);
    assert.deepEqual(await a.timeline('u1'), [], 'gone for the other connection too');
    assert.equal((await a.history('u1')).length, 0);
    // An event for u1 through a: a new user u1, not rows under the deleted index.
    await a.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'click', timestamp: 2 }]);
    assert.deepEqual((await b.timeline('u1')).map((e) => e.type), ['click']);
    assert.deepEqual((await a.timeline('u1')).map((e) => e.type), ['click']);
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path, { readonly: true });
    const orphans = db.prepare('SELECT COUNT(*) FROM events WHERE user_idx NOT IN (SELECT idx FROM users)').pluck().get();
    db.close();
    assert.equal(orphans, 0, 'no event under a deleted user');
    // the same through the columnar path (an import's batches)
    assert.equal(await b.deleteUser('u1'), true);
    await a.ingestEventColumns(encodeEvents([{ userId: 'u1', itemId: 'i1', type: 'view', timestamp: 3 }]));
    assert.deepEqual((await b.timeline('u1')).map((e) => e.timestamp), [3]);
    await a.close();
    await b.close();
  });

  it("hears the events other connections commit (another worker, the CLI), each once, its own at commit", async () => {
    const path = join(dir, 'follow.db');
    const a = await SqliteStore.open(path, { followMs: 20 });
    const b = await SqliteStore.open(path);
    const quiet = await SqliteStore.open(path, { followMs: 0 });
    await b.upsertItems([{ id: 'i1' }, { id: 'i2' }]);
    const heard: [number, string, number][] = [];
    const seqOf = new Map<number, number>(); // timestamp → seq heard
    const quietHeard: number[] = [];
    const off = a.onEvents((e) => {
      for (let i = 0; i < e.length; i++) {
        heard.push([e.userIdx[i], e.typeNames.get(e.type[i])!, e.timestamp[i]]);
        seqOf.set(e.timestamp[i], e.seq![i]);
      }
    });
    quiet.onEvents((e) => quietHeard.push(...e.timestamp));
    const until = async (n: number) => {
      for (let t = 0; t < 200 && heard.length < n; t++) await new Promise((r) => setTimeout(r, 10));
    };
    const ev = (userId: string, type: string, timestamp: number) => ({ userId, itemId: 'i1', type, timestamp });
    await b.appendEvents([ev('u1', 'view', 1), ev('u2', 'click', 2)]); // before: b makes the users
    await until(2);
    assert.deepEqual(heard.map((h) => [h[1], h[2]]), [['view', 1], ['click', 2]]);
    // interleaved: a's own write after b's unseen one, then b again
    await b.appendEvents([ev('u1', 'purchase', 3)]);
    await a.appendEvents([ev('u1', 'view', 4)]); // heard at once
    await b.appendEvents([ev('u3', 'view', 5)]);
    await until(5);
    await new Promise((r) => setTimeout(r, 60)); // and nothing twice afterwards
    assert.deepEqual(heard.map((h) => h[2]).sort((x, y) => x - y), [1, 2, 3, 4, 5]);
    assert.deepEqual(heard.slice(2).map((h) => h[2]), [4, 3, 5], "a's own at its commit, b's at the next look");
    // a type another connection created is named
    await b.appendEvents([ev('u1', 'my_custom', 6)]);
    await until(6);
    assert.deepEqual(heard[5].slice(1), ['my_custom', 6]);
    // every event heard with its place in the log, own and others' alike
    for (const u of ['u1', 'u2', 'u3']) for (const e of await b.timeline(u)) assert.equal(seqOf.get(e.timestamp), e.seq, `seq of the event at ${e.timestamp}`);
    // followMs 0: only its own writes
    assert.deepEqual(quietHeard, []);
    await quiet.appendEvents([ev('u1', 'view', 7)]);
    assert.deepEqual(quietHeard, [7]);
    await until(7); // a hears it from the file
    // no listener left: no more polling
    off();
    await b.appendEvents([ev('u1', 'view', 8)]);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(heard.length, 7, "a heard quiet's event too, and nothing after unsubscribing");
    await Promise.all([a.close(), b.close(), quiet.close()]);
  });

  it('stores a served response as one row, and hears the responses another connection serves one impression per item', async () => {
    const path = join(dir, 'packed.db');
    const a = await SqliteStore.open(path, { followMs: 20 });
    const b = await SqliteStore.open(path);
    await b.upsertItems([{ id: 'i1' }, { id: 'i2' }, { id: 'i3' }]);
    await b.upsertUsers([{ id: 'u1' }]);
    const ix = await Promise.all(['i1', 'i2', 'i3'].map((i) => b.itemIndex(i)));
    const heard: string[] = [];
    const off = a.onEvents((e) => {
      for (let i = 0; i < e.length; i++) heard.push(`${e.itemIdx[i]}@${e.seq![i]}`);
    });
    const r = await b.appendServed([
      { userId: 'u1', items: Int32Array.from([ix[2], ix[0], ix[1]]), timestamp: 1000, requestId: 'r1', scene: 'home', provenance: encodeProvenance([[], [{ generator: 'led', rank: 0, score: 1 }], []]) },
      { userId: 'u1', items: Int32Array.from([ix[1]]), timestamp: 2000, requestId: 'r2', scene: 'home', provenance: null },
    ]);
    assert.equal(r.accepted, 4);
    for (let t = 0; t < 200 && heard.length < 4; t++) await new Promise((res) => setTimeout(res, 10));
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path, { readonly: true });
    const rows = db.prepare("SELECT seq, item_idx, request_id, position, extra, length(items) AS bytes FROM events WHERE type = (SELECT code FROM event_types WHERE name = 'impression') ORDER BY seq").all() as { seq: number; item_idx: number; request_id: string; position: number | null; extra: string | null; bytes: number }[];
    db.close();
    assert.deepEqual(rows.map((x) => [x.item_idx, x.request_id, x.position, x.extra === null ? null : provenanceSources(x.extra as unknown as Uint8Array, x.bytes / 4), x.bytes]), [[ix[2], 'r1', null, ['', 'led:0:1', ''], 12], [ix[1], 'r2', null, null, 4]]);
    assert.deepEqual(heard, [`${ix[2]}@${rows[0].seq}`, `${ix[0]}@${rows[0].seq}`, `${ix[1]}@${rows[0].seq}`, `${ix[1]}@${rows[1].seq}`]);
    const tl = await a.timeline('u1', { types: ['impression'] });
    assert.deepEqual(tl.map((e) => [e.itemId, e.context]), [
      ['i2', { requestId: 'r2', scene: 'home', position: 0 }],
      ['i2', { requestId: 'r1', scene: 'home', position: 2 }],
      ['i1', { requestId: 'r1', scene: 'home', position: 1, sources: 'led:0:1' }],
      ['i3', { requestId: 'r1', scene: 'home', position: 0 }],
    ]);
    assert.deepEqual((await a.counts()).eventsByType, { impression: 4 });
    off();
    await Promise.all([a.close(), b.close()]);
  });

  it('upgrades a version-1 store (one row per impression) at open, and reads both kinds of rows; read-only, it reads it as it is', async () => {
    const path = join(dir, 'v1.db');
    const s = await SqliteStore.open(path);
    await s.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'impression', timestamp: 1000, context: { requestId: 'old', position: 0 } }]);
    await s.close();
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path);
    db.exec("ALTER TABLE events DROP COLUMN items; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
    db.close();
    const ro = await SqliteStore.open(path, { readonly: true });
    assert.deepEqual((await ro.timeline('u1')).map((e) => e.context?.requestId), ['old']);
    assert.equal((await ro.counts()).events, 1);
    await ro.close();
    const up = await SqliteStore.open(path);
    await up.appendServed([{ userId: 'u1', items: Int32Array.from([await up.itemIndex('i1'), await up.itemIndex('i1')]), timestamp: 2000, requestId: 'new', scene: 's', provenance: null }]);
    assert.deepEqual((await up.timeline('u1')).map((e) => `${e.context?.requestId}:${e.context?.position}`), ['new:1', 'new:0', 'old:0']);
    assert.equal((await up.history('u1', { types: ['impression'] })).length, 3);
    await up.close();
    const check = new Database(path, { readonly: true });
    assert.equal(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get(), '2');
    check.close();
  });

  it("tells its listeners each stored event's seq, on the multi-row insert path too", async () => {
    const s = await SqliteStore.open(join(dir, 'heard-seq.db'));
    await s.upsertItems([{ id: 'i1' }]);
    await s.appendEvents([{ userId: 'u0', itemId: 'i1', type: 'view', timestamp: 1 }]); // seqs do not start at 1 below
    const seqOf = new Map<number, number>();
    s.onEvents((e) => {
      for (let i = 0; i < e.length; i++) seqOf.set(e.timestamp[i], e.seq![i]);
    });
    // 120 events without ids: two statements of 50 rows and 20 single rows
    await s.appendEvents(Array.from({ length: 120 }, (_, i) => ({ userId: `u${i % 7}`, itemId: 'i1', type: 'view', timestamp: 100 + i })));
    // with ids (a duplicate among them): row by row
    await s.appendEvents([{ id: 'e1', userId: 'u1', itemId: 'i1', type: 'click', timestamp: 500 }, { id: 'e1', userId: 'u1', itemId: 'i1', type: 'click', timestamp: 501 }, { id: 'e2', userId: 'u2', itemId: 'i1', type: 'click', timestamp: 502 }]);
    assert.equal(seqOf.size, 122);
    for (let u = 0; u < 7; u++) for (const e of await s.timeline(`u${u}`, { limit: 1000 })) if (e.timestamp >= 100) assert.equal(seqOf.get(e.timestamp), e.seq, `event at ${e.timestamp}`);
    await s.close();
  });

  it('hears the items other connections write (their profile keys reach every worker)', async () => {
    const path = join(dir, 'follow-items.db');
    const a = await SqliteStore.open(path, { followMs: 20 });
    const b = await SqliteStore.open(path);
    const heard: string[] = [];
    const off = a.onItems((items) => heard.push(...items.map((i) => `${i.id}:${(i.categories ?? []).join('|')}`)));
    await b.upsertItems([{ id: 'i1', categories: ['shoes'] }]);
    await a.upsertItems([{ id: 'i2', categories: ['hats'] }]); // its own: at commit
    for (let t = 0; t < 200 && !heard.includes('i1:shoes'); t++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(heard.includes('i1:shoes'), JSON.stringify(heard));
    assert.equal(heard[0], 'i2:hats', 'its own item at commit, before the look');
    // an item made by an event elsewhere, then one updated elsewhere
    await b.appendEvents([{ userId: 'u', itemId: 'i3', type: 'view', timestamp: 1 }]);
    await b.upsertItems([{ id: 'i1', categories: ['boots'] }]);
    for (let t = 0; t < 200 && !heard.includes('i1:boots'); t++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(heard.includes('i3:') && heard.includes('i1:boots'), JSON.stringify(heard));
    off();
    await Promise.all([a.close(), b.close()]);
  });

  it('checkpoints the WAL on a worker thread when asked, so the log restarts instead of growing', async () => {
    const path = join(dir, 'bg-checkpoint.db');
    const s = await SqliteStore.open(path, { backgroundCheckpoint: true });
    await s.upsertItems([{ id: 'i1' }]);
    const batch = async (b: number) => {
      for (let t = 0; t < 5; t++) await s.appendEvents(Array.from({ length: 400 }, (_, i) => ({ userId: `u${b}-${t}-${i}`, itemId: 'i1', type: 'view', timestamp: b * 1e6 + t * 1000 + i })));
    };
    const walBytes = () => statSync(`${path}-wal`).size;
    await batch(0);
    await new Promise((r) => setTimeout(r, 1500)); // the thread checkpoints every second
    const first = walBytes();
    await batch(1);
    // Checkpointed: the second batch rewrote the log from its start (without: about twice the size).
    assert.ok(walBytes() < first * 1.5, `WAL ${walBytes()} bytes after a second batch, ${first} after the first`);
    await s.close();
    const again = await SqliteStore.open(path);
    assert.equal((await again.counts()).events, 4000);
    await again.close();
  });

  it('allocates dense indices across batches, connections and a rolled-back write', async () => {
    const path = join(dir, 'indices.db');
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path);
    await a.upsertUsers([{ id: 'a0' }, { id: 'a1' }]);
    await b.upsertUsers([{ id: 'b0' }]);
    await a.appendEvents([{ userId: 'a2', itemId: 'i0', type: 'view', timestamp: 1 }, { userId: 'a3', itemId: 'i1', type: 'view', timestamp: 2 }]);
    // a write that fails after allocating (the checkpoint's NOT NULL value): nothing of it stays
    await assert.rejects(b.ingest({ users: [{ id: 'lost' }], items: [{ id: 'lost-item' }], checkpoint: { key: 'k', value: null as unknown as string } }));
    await b.upsertUsers([{ id: 'b1' }]);
    await b.upsertItems([{ id: 'i2' }]);
    for (const [i, id] of ['a0', 'a1', 'b0', 'a2', 'a3', 'b1'].entries()) assert.equal(await a.userIndex(id), i, id);
    assert.equal(await a.userIndex('lost'), -1);
    assert.deepEqual([await b.itemIndex('i0'), await b.itemIndex('i1'), await b.itemIndex('i2'), await b.itemIndex('lost-item')], [0, 1, 2, -1]);
    await a.close();
    await b.close();
  });

  it('sees event types first stored by another connection', async () => {
    const path = join(dir, 'types.db');
    const a = await SqliteStore.open(path);
    const b = await SqliteStore.open(path);
    await a.appendEvents([{ userId: 'u1', itemId: 'i1', type: 'view', timestamp: 1 }]);
    assert.equal((await a.history('u1', { types: ['click'] })).length, 0);
    assert.equal(await a.eventTypeCode('share'), -1);
    await b.appendEvents([
      { userId: 'u1', itemId: 'i2', type: 'click', timestamp: 2 },
      { userId: 'u1', itemId: 'i1', type: 'share', timestamp: 3 },
    ]);
    assert.deepEqual([...(await a.history('u1', { types: ['click'] })).itemIdx], [1]);
    assert.ok((await a.eventTypeCode('share')) >= 0);
    await a.close();
    await b.close();
  });
});
