import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  distinctItems, exclusionMask, filterEvents, itemCounts, itemUsers, selectUsers, timelinesFromArrays, timelinesFromStore, topK,
} from '../../../src/models/retrieval/types.js';
import {
  loadModel, modelKinds, readModelArtifact, registerModel, writeModelArtifact,
} from '../../../src/models/retrieval/registry.js';
import { PopularityModel } from '../../../src/models/retrieval/popularity.js';
import { SqliteStore } from '../../../src/store/sqlite.js';
import { hugePageCopies, nativeAddon, populateMappings, setHugePageCopies, setPopulateMappings, transparentHugePages } from '../../../src/math/kernels/native.js';
import { hugeAdvised, mappedPages } from '../../helpers/mapped-pages.js';

describe('Timelines', () => {
  const t = timelinesFromArrays({
    userIdx: [1, 0, 1, 0, 1],
    itemIdx: [4, 2, 3, 2, 1],
    timestamp: [30, 5, 10, 5, 20],
    value: [1, 2, 3, 4, 5],
    numItems: 6,
  });
  it('groups by user and sorts by time, stable on ties', () => {
    assert.equal(t.numUsers, 2);
    assert.deepEqual(Array.from(t.indptr), [0, 2, 5]);
    assert.deepEqual(Array.from(t.items), [2, 2, 3, 1, 4]);
    assert.deepEqual(Array.from(t.values!), [2, 4, 3, 5, 1]);
    assert.deepEqual(Array.from(t.timestamps!), [5, 5, 10, 20, 30]);
  });
  it('helpers: distinct items, counts, transpose, select, filter', () => {
    assert.deepEqual(Array.from(distinctItems(t).items), [2, 3, 1, 4]);
    assert.deepEqual(Array.from(itemCounts(t)), [0, 1, 2, 1, 1, 0]);
    assert.deepEqual(Array.from(itemCounts(t, true)), [0, 1, 1, 1, 1, 0]);
    const iu = itemUsers(t);
    assert.deepEqual(Array.from(iu.indptr), [0, 0, 1, 3, 4, 5, 5]);
    assert.deepEqual(Array.from(iu.users), [1, 0, 0, 1, 1]);
    const s = selectUsers(t, [1]);
    assert.deepEqual(Array.from(s.items), [3, 1, 4]);
    assert.deepEqual(Array.from(filterEvents(t, (p) => t.values![p] > 2).items), [2, 3, 1]);
  });
  it('rejects bad input', () => {
    assert.throws(() => timelinesFromArrays({ userIdx: [0], itemIdx: [-1] }), /bad item index/);
    assert.throws(() => timelinesFromArrays({ userIdx: [0], itemIdx: [3], numItems: 2 }), />= numItems/);
    assert.throws(() => timelinesFromArrays({ userIdx: [0, 1], itemIdx: [1] }), /differ in length/);
  });
  it('loads from a store with type and value filters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-tl-'));
    try {
      const store = await SqliteStore.open(join(dir, 's.db'));
      await store.appendEvents([
        { userId: 'a', itemId: 'x', type: 'rating', value: 5, timestamp: 3 },
        { userId: 'a', itemId: 'y', type: 'rating', value: 2, timestamp: 1 },
        { userId: 'b', itemId: 'y', type: 'view', timestamp: 2 },
        { userId: 'a', itemId: 'z', type: 'view', timestamp: 2 },
      ]);
      const all = await timelinesFromStore(store);
      assert.equal(all.indptr[all.numUsers], 4);
      const ua = await store.userIndex('a');
      const ix = await store.itemIndex('x');
      const iy = await store.itemIndex('y');
      const iz = await store.itemIndex('z');
      const rowA = (tl: typeof all) => Array.from(tl.items.subarray(tl.indptr[ua], tl.indptr[ua + 1]));
      assert.deepEqual(rowA(all), [iy, iz, ix]); // time order
      const good = await timelinesFromStore(store, { minValue: 4, valueTypes: ['rating'] });
      assert.deepEqual(rowA(good), [iz, ix]); // views pass, the 2-star rating does not
      const ratings = await timelinesFromStore(store, { types: ['rating'], valueAbove: 3.5 });
      assert.deepEqual(rowA(ratings), [ix]);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('topK', () => {
  const s = [1, 3, 3, 2, -Infinity, NaN, 3];
  it('orders by score, ties by smaller index; skips -Infinity and NaN', () => {
    assert.deepEqual(Array.from(topK(s, 3).items), [1, 2, 6]);
    assert.deepEqual(Array.from(topK(s, 10).items), [1, 2, 6, 3, 0]);
    assert.deepEqual(Array.from(topK(s, 10).scores), [3, 3, 3, 2, 1]);
    assert.deepEqual(Array.from(topK(s, 0).items), []);
  });
  it('respects the blocked mask', () => {
    assert.deepEqual(Array.from(topK(s, 3, exclusionMask(7, Int32Array.of(2), Int32Array.of(0))).items), [1, 6, 3]);
    assert.deepEqual(Array.from(topK(s, 3, exclusionMask(7, Int32Array.of(2), undefined, { includeHistory: true })).items), [1, 2, 6]);
  });
  it('matches a full sort on random data', () => {
    const r = Array.from({ length: 500 }, (_, i) => ((i * 7919) % 97) / 7);
    const ref = r.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, 50).map((x) => x[1]);
    assert.deepEqual(Array.from(topK(r, 50).items), ref);
  });
});

describe('artifacts and registry', () => {
  it('round-trips every dtype and checks sizes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-art-'));
    try {
      const arrays = {
        f32: Float32Array.of(1.5, -2), f64: Float64Array.of(Math.PI), i32: Int32Array.of(-7, 8), u32: Uint32Array.of(4e9),
        u16: Uint16Array.of(65535), u8: Uint8Array.of(1, 2, 3),
      };
      await writeModelArtifact(dir, { kind: 'custom', name: 'c', numItems: 3, config: { a: 1 } }, { ...arrays, m: { data: Float32Array.of(1, 2, 3, 4), shape: [2, 2] } });
      const art = await readModelArtifact(dir);
      for (const [k, v] of Object.entries(arrays)) assert.deepEqual(art.arrays[k], v);
      assert.deepEqual(art.manifest.arrays.m.shape, [2, 2]);
      assert.equal(art.manifest.format, 'funnel-retrieval-model');
      writeFileSync(join(dir, 'u8.bin'), Buffer.from([1]));
      await assert.rejects(readModelArtifact(dir), /bytes, expected/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('populates mapped arrays at load when serving asks (every page resident before the first read)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-art-pop-'));
    const was = populateMappings();
    try {
      const n = 1_000_000; // 4 MB: 977 pages, far beyond the kernel's fault-around
      const big = Float32Array.from({ length: n }, (_, i) => i);
      await writeModelArtifact(dir, { kind: 'custom', name: 'c', numItems: n, config: {} }, { big });
      const file = join(dir, 'big.bin');
      setPopulateMappings(false);
      const lazy = await readModelArtifact(dir);
      const before = mappedPages(file);
      setPopulateMappings(true);
      const eager = await readModelArtifact(dir);
      const after = mappedPages(file);
      if (before && after) {
        // Two mappings now; the lazy one untouched (nothing resident), the populated one whole.
        assert.ok(before.sizeKb >= 3900 && before.rssKb < 200, `lazy mapping: ${JSON.stringify(before)}`);
        assert.ok(after.rssKb - before.rssKb >= after.sizeKb - before.sizeKb - 4, `populated mapping: ${JSON.stringify(after)}`);
      }
      assert.deepEqual(eager.arrays.big, big);
      assert.deepEqual(lazy.arrays.big, big);
    } finally {
      setPopulateMappings(was);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps large arrays copy-on-write (same values as read; writes never reach the file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-art-map-'));
    try {
      const n = 300_000; // 1.2 MB: above the mapping threshold
      const big = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const ids = Int32Array.from({ length: n }, (_, i) => n - i);
      await writeModelArtifact(dir, { kind: 'custom', name: 'c', numItems: n, config: {} }, { big, ids, small: Float32Array.of(1, 2) });
      const file = readFileSync(join(dir, 'big.bin'));
      const mapped = await readModelArtifact(dir);
      const read = await readModelArtifact(dir, { map: false });
      assert.deepEqual(mapped.arrays.big, big);
      assert.deepEqual(mapped.arrays.ids, ids);
      assert.deepEqual(read.arrays.big, big);
      assert.deepEqual(mapped.arrays.small, Float32Array.of(1, 2));
      mapped.arrays.big[7] = 42;
      assert.equal(mapped.arrays.big[7], 42);
      assert.deepEqual(readFileSync(join(dir, 'big.bin')), file);
      assert.equal((await readModelArtifact(dir)).arrays.big[7], big[7]);
      // a file of the wrong size is refused on both paths
      writeFileSync(join(dir, 'big.bin'), file.subarray(0, file.length - 4));
      await assert.rejects(readModelArtifact(dir), /bytes, expected/);
      await assert.rejects(readModelArtifact(dir, { map: false }), /bytes, expected/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads large arrays onto huge pages when serving alone asks (same values, no file mapping, writes stay private)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-art-huge-'));
    const was = hugePageCopies();
    try {
      const n = 1_500_000; // 6 MB: at least two whole 2 MiB pages
      const big = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
      await writeModelArtifact(dir, { kind: 'custom', name: 'c', numItems: n, config: {} }, { big });
      const path = join(dir, 'big.bin');
      const file = readFileSync(path);
      setHugePageCopies(true);
      // Only where the kernel has transparent huge pages (and the addon is built): else it stays off.
      assert.equal(hugePageCopies(), transparentHugePages());
      const before = mappedPages(path);
      const advisedBefore = hugeAdvised();
      const copy = await readModelArtifact(dir);
      const after = mappedPages(path);
      const advisedAfter = hugeAdvised();
      assert.deepEqual(copy.arrays.big, big);
      if (hugePageCopies() && nativeAddon().addon && before && after && advisedBefore && advisedAfter) {
        // The file is not mapped again: the array is anonymous memory advised for huge pages.
        assert.equal(after.sizeKb, before.sizeKb, `file mapped: ${JSON.stringify({ before, after })}`);
        assert.ok(advisedAfter.sizeKb - advisedBefore.sizeKb >= file.length / 1024, `huge-page advice: ${JSON.stringify({ advisedBefore, advisedAfter })}`);
      }
      copy.arrays.big[3] = 42;
      assert.deepEqual(readFileSync(path), file);
      // The native call behind it, with and without huge pages: the file's bytes either way.
      const addon = nativeAddon().addon;
      if (addon) {
        for (const huge of [true, false]) {
          const buf = await addon.mapFileAsync(path, true, huge);
          assert.ok(buf);
          assert.deepEqual(new Uint8Array(buf), new Uint8Array(file.buffer, file.byteOffset, file.byteLength));
        }
        assert.equal(await addon.mapFileAsync(join(dir, 'missing.bin'), false, true), undefined);
      }
      setHugePageCopies(false);
      assert.equal(hugePageCopies(), false);
      assert.equal((await readModelArtifact(dir)).arrays.big[3], big[3]);
    } finally {
      setHugePageCopies(was);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads built-in and registered kinds; refuses unknown kinds and empty folders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-reg-'));
    try {
      assert.ok(modelKinds().includes('ease'));
      await assert.rejects(loadModel(dir), /no retrieval model/);
      await writeModelArtifact(dir, { kind: 'mystery', name: 'm', numItems: 1, config: {} }, {});
      await assert.rejects(loadModel(dir), /unknown retrieval model kind 'mystery'/);
      registerModel('mystery', () => new PopularityModel() as never);
      assert.ok((await loadModel(dir)) instanceof PopularityModel);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
