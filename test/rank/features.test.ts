import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FeatureSpace, decodeSources, encodeRaw, encodeSources, resolveFeatureConfig } from '../../src/rank/features.js';
import { buildSamples } from '../../src/rank/samples.js';
import { hashCross, hashInt, hashStr } from '../../src/rank/hash.js';
import type { FeatureBatch } from '../../src/rank/types.js';
import { HOUR_MS, MINUTE_MS } from '../../src/profiles/window.js';
import { T0, fakeProvenance, freshExtractor, log, rowOf, servedGroup, smallCatalog, space, synthFixture, type Ev } from './helpers.js';

/** Shared entries followed by row r's entries, as a serving batch gives candidate r's vector. */
function servedVector(b: FeatureBatch, r: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let e = 0; e < b.shared.nnz; e++) out.push([b.shared.indices[e], b.shared.values[e], b.shared.fields ? b.shared.fields[e] : -1]);
  for (let e = b.rows.indptr[r]; e < b.rows.indptr[r + 1]; e++) out.push([b.rows.indices[e], b.rows.values[e], b.rows.fields ? b.rows.fields[e] : -1]);
  return out;
}

describe('features: one definition for training and serving', () => {
  it('gives identical vectors at training (samples) and serving (extractor) for the same impressions', async () => {
    const { events, catalog } = synthFixture();
    const base = space(catalog);
    const { samples } = await buildSamples(events, freshExtractor(base), { provenance: fakeProvenance });
    assert.ok(samples.size > 1000, `samples: ${samples.size}`);
    const sp = base.withNormalizer(samples.fitNormalizer(base));
    const train = samples.encode(sp);
    // a few request groups spread over the log
    const groups = [Math.floor(samples.groups * 0.3), Math.floor(samples.groups * 0.6), samples.groups - 1];
    let compared = 0;
    for (const g of groups) {
      const { rows, ex, info, cands } = servedGroup(sp, events, samples, g);
      const state = ex.fetch(info);
      assert.ok(!(state instanceof Promise));
      const batch = ex.encode(state, cands);
      const twoPass = encodeRaw(sp, ex.extractRaw(state, cands));
      rows.forEach((s, r) => {
        const served = servedVector(batch, r);
        assert.deepEqual(served, rowOf(train.x, s), `group ${g}, candidate ${r}: serving and training vectors differ`);
        assert.deepEqual(servedVector(twoPass, r), served, 'encodeRaw(extractRaw) equals encode');
        compared++;
      });
    }
    assert.ok(compared >= 3);
  });

  it('leaks nothing: events after an impression never change its features, earlier ones do', async () => {
    const cat = smallCatalog();
    const base: Ev[] = [
      { u: 1, i: 2, type: 'view', t: T0 - 3 * HOUR_MS },
      { u: 1, i: 6, type: 'click', t: T0 - 2 * HOUR_MS },
      { u: 2, i: 3, type: 'click', t: T0 - HOUR_MS },
      { u: 1, i: 3, type: 'impression', t: T0, req: 'r1', pos: 0, scene: 'home', device: 'mobile' },
      { u: 1, i: 7, type: 'impression', t: T0, req: 'r1', pos: 1, scene: 'home', device: 'mobile' },
      { u: 1, i: 2, type: 'impression', t: T0, req: 'r1', pos: 2, scene: 'home', device: 'mobile' },
    ];
    const later: Ev[] = [
      { u: 1, i: 7, type: 'click', t: T0 + 5000, req: 'r1', pos: 1, scene: 'home', device: 'mobile' },
      { u: 1, i: 7, type: 'purchase', t: T0 + 90_000, req: 'r1', pos: 1 },
      { u: 1, i: 3, type: 'view', t: T0 + 100_000 },
      { u: 3, i: 3, type: 'click', t: T0 + 2 * HOUR_MS },
    ];
    const sp0 = space(cat);
    const run = async (evs: Ev[]) => (await buildSamples(log(evs), freshExtractor(sp0))).samples;
    const a = await run(base);
    const b = await run([...base, ...later]);
    assert.equal(a.size, 3);
    assert.equal(b.size, 3);
    const sp = sp0.withNormalizer(b.fitNormalizer(sp0));
    const xa = a.encode(sp);
    const xb = b.encode(sp);
    for (let s = 0; s < 3; s++) assert.deepEqual(rowOf(xb.x, s), rowOf(xa.x, s), `impression ${s}: a later event changed its features`);
    assert.deepEqual(Array.from(xb.labels.click), [0, 1, 0], 'the later click labels its impression');
    assert.deepEqual(Array.from(xb.labels.conversion), [0, 1, 0]);
    assert.deepEqual(Array.from(xa.labels.click), [0, 0, 0]);
    // control: the same click BEFORE the impression is a feature (the test can fail)
    const c = await run([...base, { u: 1, i: 7, type: 'click', t: T0 - 60_000 }]);
    const xc = c.encode(sp);
    assert.notDeepEqual(rowOf(xc.x, 1), rowOf(xa.x, 1), 'an earlier click must change the features');
  });

  it('counts item popularity over complete buckets only', async () => {
    const cat = smallCatalog();
    const sp0 = space(cat, { popularity: [{ type: 'click', windowMs: HOUR_MS }] });
    const minute = Math.floor(T0 / MINUTE_MS) * MINUTE_MS;
    const ex = freshExtractor(sp0);
    for (let k = 0; k < 3; k++) ex.profiles.record({ userIdx: 9, itemIdx: 4, type: 'click', timestamp: minute - 30_000 + k });
    for (let k = 0; k < 5; k++) ex.profiles.record({ userIdx: 9, itemIdx: 4, type: 'click', timestamp: minute + 1000 + k });
    const popAt = (now: number) => {
      const st = ex.fetch({ user: -1, now });
      const raw = ex.extractRaw(st as Exclude<typeof st, Promise<unknown>>, [{ item: 4 }]);
      return raw.rowDense[sp0.D.pop];
    };
    assert.equal(popAt(minute + 20_000), 3, 'the current minute is not counted yet');
    assert.equal(popAt(minute + MINUTE_MS + 1), 8, 'counted once the minute is complete');
  });

  it('computes time since the last touch of the item and of its category', () => {
    const cat = smallCatalog(); // item i has category c(i % 4)
    const sp0 = space(cat);
    const ex = freshExtractor(sp0);
    ex.profiles.record({ userIdx: 1, itemIdx: 5, type: 'view', timestamp: T0 - 10_000 });
    const st = ex.fetch({ user: 1, now: T0 }) as Exclude<ReturnType<typeof ex.fetch>, Promise<unknown>>;
    const raw = ex.extractRaw(st, [{ item: 5 }, { item: 9 }, { item: 6 }]);
    const Cc = sp0.candidateDense.length;
    const D = sp0.D;
    assert.equal(raw.rowDense[D.sinceItem], 10);
    assert.equal(raw.rowDense[D.sinceCat], 10);
    assert.ok(Number.isNaN(raw.rowDense[Cc + D.sinceItem]), 'item 9 was never touched');
    assert.equal(raw.rowDense[Cc + D.sinceCat], 10, 'item 9 shares category c1 with item 5');
    assert.ok(Number.isNaN(raw.rowDense[2 * Cc + D.sinceCat]), 'item 6 is in c2');
    assert.ok(raw.rowDense[D.aff] > 0, 'affinity to c1');
    assert.equal(raw.rowDense[2 * Cc + D.aff], 0);
    assert.equal(raw.rowDense[D.price], 10);
    assert.equal(raw.rowDense[D.age], 6 * 24, 'item 5 was created 6 days before');
  });

  it('handles unknown users and unknown items without throwing', () => {
    const cat = smallCatalog();
    const sp0 = space(cat);
    const ex = freshExtractor(sp0);
    const st = ex.fetch({ user: -1, now: T0 }) as Exclude<ReturnType<typeof ex.fetch>, Promise<unknown>>;
    const raw = ex.extractRaw(st, [{ item: 999 }, { item: 0, sources: [{ generator: 'a', rank: 3, score: 0.5 }, { generator: 'zzz', rank: 1, score: 9 }] }]);
    assert.equal(raw.n, 2);
    const Cc = sp0.candidateDense.length;
    assert.equal(raw.rowDense[Cc + sp0.D.genRank], 3);
    assert.equal(raw.rowDense[Cc + sp0.D.genCount], 2, 'unknown generators still count');
    for (let k = 0; k < raw.rowPtr[2]; k++) assert.ok(raw.rowIdx[k] >= sp0.hashBase && raw.rowIdx[k] < sp0.dim);
  });

  it('keeps one layout: continuous entries at fixed indices, hashed ones above', async () => {
    const { events, catalog } = synthFixture({ events: 5000 });
    const base = space(catalog);
    const { samples } = await buildSamples(events, freshExtractor(base), { provenance: fakeProvenance });
    const sp = base.withNormalizer(samples.fitNormalizer(base));
    const x = samples.encode(sp).x;
    for (let e = 0; e < x.indptr[x.rows]; e++) {
      const i = x.indices[e];
      const f = x.fields![e];
      assert.ok(i >= 0 && i < sp.dim);
      if (f < sp.denseSize) assert.ok(i < sp.hashBase && (i === sp.missingBase + f || Math.floor(i / sp.width) === f), `entry ${e}: index ${i} field ${f}`);
      else assert.ok(i >= sp.hashBase);
      if (f < sp.denseSize && i < sp.missingBase) assert.ok(x.values[e] >= 0 && x.values[e] <= 1, 'normalised values lie in [0, 1]');
    }
    // the space round-trips through JSON
    const again = FeatureSpace.fromJSON(JSON.parse(JSON.stringify(sp.toJSON())), catalog);
    assert.deepEqual(rowOf(samples.encode(again).x, 7), rowOf(x, 7));
  });

  it('validates its configuration with errors that name the setting', () => {
    assert.throws(() => resolveFeatureConfig({ bits: 40 }), (e: Error) => e instanceof RangeError && /features\.bits/.test(e.message));
    assert.throws(() => resolveFeatureConfig({ crosses: [['planet', 'categories']] }), /features\.crosses\[0\]\[0\]/);
    assert.throws(() => resolveFeatureConfig({ popularity: [{ type: 'click', windowMs: -1 }] }), /features\.popularity\[0\]\.windowMs/);
    assert.throws(() => resolveFeatureConfig({ nope: 1 } as never), /features\.nope: unknown setting/);
    assert.throws(() => new FeatureSpace({ itemFields: ['brand'], crosses: [] }, smallCatalog()), /no column 'brand'/);
  });

  it('hashes deterministically, salted by field', () => {
    assert.equal(hashStr(3, 'shoes'), hashStr(3, 'shoes'));
    assert.notEqual(hashStr(3, 'shoes'), hashStr(4, 'shoes'));
    assert.notEqual(hashInt(1, 5), hashInt(1, 6));
    assert.notEqual(hashCross(1, 2), hashCross(2, 1));
    assert.equal(hashStr(0, ''), 2627703901, 'stable across processes and versions (murmur3 fmix of the salt ^ FNV-1a offset basis)');
  });

  it('logs provenance as a string and reads it back', () => {
    const src = [{ generator: 'led', rank: 0, score: 0.8731 }, { generator: 'item:knn', rank: 12, score: -1.5 }];
    assert.deepEqual(decodeSources(encodeSources(src)), src);
    assert.equal(decodeSources(''), undefined);
    assert.deepEqual(decodeSources('bad|x:1:2'), [{ generator: 'x', rank: 1, score: 2 }]);
  });
});
