import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ColumnarCatalog, valuesOf, type CategoricalColumn, type NumericColumn } from '../../src/funnel/catalog.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-catalog-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const names = (col: CategoricalColumn, item: number) => [...valuesOf(col, item)].map((c) => col.dictionary[c]);

describe('ColumnarCatalog', () => {
  it('builds builtin and attribute columns from items', () => {
    const cat = ColumnarCatalog.fromItems([
      { id: 'a', categories: ['shoes', 'sale'], tags: ['x'], price: 10, createdAt: 1000, attributes: { brand: 'acme', rating: 4.5, sizes: [40, 41], vegan: true } },
      { id: 'b', categories: ['hats'], available: false, attributes: { brand: 'zeta', rating: 3 } },
      { id: 'c', attributes: { rating: 'n/a', price: 99 } },
    ]);
    assert.equal(cat.size, 3);
    assert.deepEqual([...cat.available], [1, 0, 1]);
    assert.deepEqual([...cat.price].map((x) => (Number.isNaN(x) ? null : x)), [10, null, null], 'builtin price wins over attributes.price');
    assert.deepEqual([...cat.createdAt].map((x) => (Number.isNaN(x) ? null : x)), [1000, null, null]);
    assert.deepEqual(names(cat.categories, 0), ['shoes', 'sale']);
    assert.deepEqual(names(cat.categories, 2), []);
    assert.equal(cat.categories.code('hats'), 2);
    assert.equal(cat.categories.code('nope'), -1);
    const brand = cat.column('brand') as CategoricalColumn;
    assert.equal(brand.kind, 'categorical');
    assert.deepEqual(names(brand, 1), ['zeta']);
    assert.equal(cat.column('rating')?.kind, 'categorical', "a string among numbers makes the column categorical");
    assert.deepEqual(names(cat.column('sizes') as CategoricalColumn, 0), ['40', '41']);
    assert.deepEqual(names(cat.column('vegan') as CategoricalColumn, 0), ['true']);
    assert.deepEqual(cat.columnNames().sort(), ['available', 'brand', 'categories', 'createdAt', 'price', 'rating', 'sizes', 'tags', 'vegan']);
    assert.equal(cat.itemIndex('b'), 1);
    assert.equal(cat.itemIndex('zz'), -1);
    assert.equal(cat.itemId(2), 'c');
    assert.equal(cat.itemId(7), '');
  });

  it('makes numeric columns of all-number attributes, and honours the attribute list', () => {
    const items = [
      { id: 'a', idx: 2, attributes: { rating: 4, brand: 'x' } },
      { id: 'b', idx: 0, attributes: { rating: 2.5 } },
    ];
    const cat = ColumnarCatalog.fromItems(items);
    assert.equal(cat.size, 3, 'indices from idx; the gap is an unknown item');
    const r = cat.column('rating') as NumericColumn;
    assert.equal(r.kind, 'numeric');
    assert.deepEqual([...r.values].map((x) => (Number.isNaN(x) ? null : x)), [2.5, null, 4]);
    assert.equal(cat.available[1], 0);
    const only = ColumnarCatalog.fromItems(items, { attributes: ['rating'], size: 5 });
    assert.equal(only.size, 5);
    assert.equal(only.column('brand'), undefined);
    assert.ok(only.column('rating'));
    assert.throws(() => ColumnarCatalog.fromItems(items, { size: 2 }), /index 2 >= size 2/);
  });

  it('checks and carries embeddings', () => {
    const cat = ColumnarCatalog.fromItems([{ id: 'a' }, { id: 'b' }]);
    const e = cat.withEmbeddings({ dim: 2, vectors: Float32Array.from([1, 0, 0, 1]) });
    assert.equal(e.embeddings?.dim, 2);
    assert.equal(e.itemIndex('b'), 1);
    assert.throws(() => cat.withEmbeddings({ dim: 3, vectors: new Float32Array(4) }), /expected size × dim/);
  });

  it('builds from a SQLite store: deleted items are unknown and unavailable', async () => {
    const store = await SqliteStore.open(join(dir, 'catalog.db'));
    try {
      await store.upsertItems([
        { id: 'i0', categories: ['a'], price: 5, createdAt: 100, attributes: { provider: 'p1', rating: 4 } },
        { id: 'i1', categories: ['b', 'a'], available: false, attributes: { provider: 'p2', rating: 2 } },
        { id: 'i2', categories: ['c'], attributes: { provider: 'p1' } },
      ]);
      await store.deleteItem('i2');
      const cat = await ColumnarCatalog.fromStore(store);
      assert.equal(cat.size, 3);
      assert.deepEqual([...cat.available], [1, 0, 0]);
      assert.equal(cat.itemIndex('i2'), -1);
      assert.deepEqual(names(cat.categories, 1), ['b', 'a']);
      assert.deepEqual(names(cat.categories, 2), []);
      assert.deepEqual(names(cat.column('provider') as CategoricalColumn, 0), ['p1']);
      assert.equal(cat.column('rating')?.kind, 'numeric');
      assert.equal(cat.price[0], 5);
      assert.equal(cat.createdAt[0], 100);
    } finally {
      await store.close();
    }
  });
});
