/**
 * The serving catalog (src/serving/catalog.ts): the periodic refresh rebuilds the item snapshot
 * only when items changed, also when another process sharing the store wrote them.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreCatalog } from '../../src/serving/catalog.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-catalog-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('StoreCatalog', () => {
  it('rebuilds on the periodic check only after item writes, by this or another connection', async () => {
    const path = join(dir, 'c.db');
    const store = await SqliteStore.open(path);
    const other = await SqliteStore.open(path);
    await store.upsertItems([{ id: 'a', price: 1 }, { id: 'b', price: 2 }]);
    const cat = await StoreCatalog.open(store, 0);
    try {
      const first = cat.snapshot;
      await cat.refreshIfStale();
      assert.equal(cat.snapshot, first, 'nothing changed: the same snapshot');
      await store.appendEvents([{ userId: 'u1', itemId: 'a', type: 'view', timestamp: 1 }]);
      await cat.refreshIfStale();
      assert.equal(cat.snapshot, first, 'events of known items change no item');

      await other.upsertItems([{ id: 'c', price: 3 }]);
      await cat.refreshIfStale();
      assert.notEqual(cat.snapshot, first, 'an item written by another process is picked up');
      assert.equal(cat.index('c'), 2);
      assert.equal(cat.price(2), 3);

      const second = cat.snapshot;
      await cat.refreshIfStale();
      assert.equal(cat.snapshot, second);
      await other.deleteItem('a');
      await cat.refreshIfStale();
      assert.equal(cat.index('a'), -1, 'a deletion elsewhere too');
      assert.equal(cat.servable(0), false);
    } finally {
      cat.close();
      await other.close();
      await store.close();
    }
  });

  it('lists fresh items newest first per window, following the clock and the snapshot', async () => {
    const path = join(dir, 'fresh.db');
    const store = await SqliteStore.open(path);
    const H = 3_600_000;
    const T = Date.UTC(2026, 5, 1);
    await store.upsertItems([
      { id: 'old', createdAt: T - 100 * H },
      { id: 'day', createdAt: T - 20 * H },
      { id: 'hour', createdAt: T - H },
      { id: 'soon', createdAt: T + 2 * H },
      { id: 'gone', createdAt: T - H, available: false },
    ]);
    const cat = await StoreCatalog.open(store, 0);
    try {
      const ids = (l: { items: Int32Array }) => [...l.items].map((i) => cat.id(i));
      assert.deepEqual(ids(cat.fresh(48 * H, T)), ['hour', 'day']);
      assert.deepEqual(ids(cat.fresh(10 * H, T)), ['hour'], 'another window, its own list');
      const l = cat.fresh(48 * H, T);
      assert.ok(Math.abs(l.scores[0] - (1 - 1 / 48)) < 1e-6);
      assert.deepEqual(ids(cat.fresh(48 * H, T + 3 * H)), ['soon', 'hour', 'day'], 'an item created later becomes fresh');
      assert.deepEqual(ids(cat.fresh(48 * H, T + 30 * H)), ['soon', 'hour'], 'and items age out');
      await store.upsertItems([{ id: 'new', createdAt: T + 29 * H }]);
      await cat.refresh();
      assert.deepEqual(ids(cat.fresh(48 * H, T + 30 * H)), ['new', 'soon', 'hour'], 'a new snapshot brings new items');
    } finally {
      cat.close();
      await store.close();
    }
  });
});
