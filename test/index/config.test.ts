/** The `training.index` configuration section and how 'auto' picks the index kind. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRAINING, resolveConfig } from '../../src/train/config.js';
import { indexKindFor } from '../../src/train/index-build.js';

describe('training.index configuration', () => {
  it('defaults to auto: IVF from 20,000 items on, exact below', () => {
    const c = resolveConfig(undefined).training.index;
    assert.deepEqual(c, DEFAULT_TRAINING.index);
    assert.equal(indexKindFor(c, 19_999), 'exact');
    assert.equal(indexKindFor(c, 20_000), 'ivf');
    assert.equal(indexKindFor({ ...c, kind: 'ivf' }, 10), 'ivf');
    assert.equal(indexKindFor({ ...c, kind: 'exact' }, 5_000_000), 'exact');
    assert.equal(indexKindFor({ ...c, kind: 'hnsw' }, 10), 'hnsw');
  });

  it('accepts overrides and reports every bad setting with its path', () => {
    const c = resolveConfig({ training: { index: { kind: 'hnsw', m: 24, efSearch: 300, bands: 8, hnswMinItems: 0 } } }).training.index;
    assert.equal(c.kind, 'hnsw');
    assert.equal(c.annMinItems, 0, 'hnswMinItems, the old name, still read');
    const v = resolveConfig({ training: { index: { kind: 'ivf', lists: 512, probe: 20, annMinItems: 100 } } }).training.index;
    assert.deepEqual([v.kind, v.lists, v.probe, v.annMinItems], ['ivf', 512, 20, 100]);
    assert.equal(c.m, 24);
    assert.equal(c.efSearch, 300);
    assert.equal(c.bands, 8);
    assert.equal(c.efConstruction, DEFAULT_TRAINING.index.efConstruction);
    assert.throws(
      () => resolveConfig({ training: { index: { kind: 'annoy', m: 1, efSearch: 0, bands: 65, nope: 1, lists: -1, probe: 1.5, annMinItems: 'x' } } }),
      (err: Error) =>
        /training\.index\.kind: must be 'auto', 'exact', 'ivf' or 'hnsw'/.test(err.message) &&
        /training\.index\.lists: must be an integer >= 0/.test(err.message) &&
        /training\.index\.probe: must be an integer >= 0/.test(err.message) &&
        /training\.index\.annMinItems: must be an integer >= 0/.test(err.message) &&
        /training\.index\.m: must be an integer >= 2/.test(err.message) &&
        /training\.index\.efSearch: must be an integer >= 1/.test(err.message) &&
        /training\.index\.bands: must be an integer >= 1 and <= 64/.test(err.message) &&
        /training\.index\.nope: unknown setting/.test(err.message),
    );
    assert.throws(() => resolveConfig({ training: { index: 3 } }), /training\.index: must be an object/);
  });
});
