import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Provenance } from '../../src/funnel/types.js';
import { HOUR_MS, MINUTE_MS } from '../../src/profiles/window.js';
import { PlattScaling } from '../../src/rank/calibration.js';
import { FeatureExtractor, FeatureSpace, type CandidateInfo, type FeatureConfig, type RequestState } from '../../src/rank/features.js';
import { FactorizationMachine } from '../../src/rank/fm.js';
import { FusedScorer } from '../../src/rank/fused.js';
import { LogisticRegression } from '../../src/rank/lr.js';
import { RankingModel } from '../../src/rank/model.js';
import { buildSamples } from '../../src/rank/samples.js';
import { floorIndex } from '../../src/rank/search.js';
import { rowsBatch, sigmoid, type Ranker } from '../../src/rank/types.js';
import { fakeProvenance, freshExtractor, rng, servedGroup, servingExtractor, synthFixture } from './helpers.js';

/** A space over the synth fixture with a normaliser fitted on its samples. */
async function fittedSpace(cfg: Partial<FeatureConfig> = {}) {
  const { events, catalog } = synthFixture({ events: 8000 });
  const base = new FeatureSpace({ generators: ['a', 'b', 'c'], ...cfg }, catalog);
  const { samples } = await buildSamples(events, freshExtractor(base), { provenance: fakeProvenance });
  return { events, catalog, samples, space: base.withNormalizer(samples.fitNormalizer(base)) };
}

/** Random parameters (training is not what is tested): every index gets a weight. */
function randomRanker(kind: 'lr' | 'fm', dim: number, seed: number, k = 8, heads = ['click']): Ranker {
  const r = rng(seed);
  if (kind === 'lr') {
    const m = new LogisticRegression(dim, { heads });
    for (const w of m.w) for (let i = 0; i <= dim; i++) w[i] = (r() - 0.5) * 2;
    return m;
  }
  const m = new FactorizationMachine(dim, { k, heads });
  for (const w of m.w) for (let i = 0; i <= dim; i++) w[i] = (r() - 0.5) * 2;
  for (const V of m.V) for (let i = 0; i < V.length; i++) V[i] = (r() - 0.5) * 0.6;
  return m;
}


/** Random candidates: known items, some with several generators, unknown ones, repeats, none. */
function candidates(r: () => number, nItems: number, n: number, positions = false): CandidateInfo[] {
  const gens = ['a', 'b', 'c', 'zzz'];
  return Array.from({ length: n }, (_, i) => {
    const sources: Provenance[] = [];
    const m = Math.floor(r() * 4);
    for (let q = 0; q < m; q++) {
      const u = r();
      // integer and fractional ranks and scores, large ranks (past the integer table), NaN scores
      sources.push({ generator: gens[Math.floor(r() * gens.length)], rank: u < 0.8 ? Math.floor(u * 300) : u * 1000, score: u < 0.05 ? NaN : u < 0.1 ? 3 : r() * 2 - 0.5 });
    }
    return { item: Math.floor(r() * nItems), ...(sources.length || i % 5 ? { sources } : {}), ...(positions && i % 3 === 0 ? { position: i } : {}) };
  });
}

/** Scores of the fused path and of `model.score(encode(...))` for a series of requests. */
function compare(model: RankingModel, ex: FeatureExtractor, nItems: number, t0: number, seed: number, opts: { positions?: boolean; requests?: number } = {}) {
  const fused = new FusedScorer(model, new FeatureExtractor(model.space, ex.profiles, { fields: false }));
  assert.ok(fused.fused);
  const r = rng(seed);
  let maxDiff = 0;
  let compared = 0;
  const requests = opts.requests ?? 40;
  for (let q = 0; q < requests; q++) {
    // times step by minutes and hours (popularity buckets close, item ages change), users repeat
    const info = {
      user: q % 6 === 0 ? -1 : Math.floor(r() * 200),
      now: t0 + q * (q % 2 ? 7 * MINUTE_MS : HOUR_MS + 1234),
      ...(q % 3 ? { scene: q % 2 ? 'home' : 'pdp' } : {}),
      ...(q % 4 ? { device: 'mobile' } : {}),
    };
    const cands = candidates(r, nItems, 20 + Math.floor(r() * 60), opts.positions);
    const st = ex.fetch(info) as RequestState;
    const want = model.score(ex.encode(st, cands));
    const st2 = fused.extractor.fetch(info) as RequestState;
    const got = fused.score(st2, cands);
    for (let i = 0; i < cands.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (d > maxDiff) maxDiff = d;
      compared++;
    }
  }
  return { maxDiff, compared };
}

describe('fused scoring (no vectors built) equals encode + score', () => {
  it('LR and FM (k = 8 and k = 3), calibrated heads combined, across requests, users and buckets', async () => {
    const { events, catalog, space } = await fittedSpace();
    const ex = servingExtractor(space, events);
    const t0 = events.timestamp[events.length - 1] - 2 * HOUR_MS;
    const cases: [string, RankingModel][] = [
      ['lr', new RankingModel(space, randomRanker('lr', space.dim, 1), { click: 1 })],
      ['fm8', new RankingModel(space, randomRanker('fm', space.dim, 2), { click: 1 })],
      ['fm3', new RankingModel(space, randomRanker('fm', space.dim, 3, 3), { click: 1 })],
      [
        'fm8, two heads, Platt',
        new RankingModel(space, randomRanker('fm', space.dim, 4, 8, ['click', 'conversion']), { click: 1, conversion: 0.5 }, [new PlattScaling(0.8, -0.2), new PlattScaling(1.2, 0.1)]),
      ],
    ];
    for (const [name, model] of cases) {
      const { maxDiff, compared } = compare(model, ex, catalog.size, t0, 7);
      assert.ok(compared > 1000);
      assert.ok(maxDiff < 2e-5, `${name}: the fused scores differ by ${maxDiff}`);
    }
  });

  it('other configurations: crosses on the item and a second attribute, no expansion, logged positions, no generators', async () => {
    const configs: Partial<FeatureConfig>[] = [
      { itemFields: ['categories', 'tags'], crosses: [['user', 'item'], ['scene', 'tags'], ['hour', 'categories'], ['user', 'categories']] },
      { expand: false, popularity: [{ type: 'click', windowMs: HOUR_MS }, { type: 'click', windowMs: 7 * 24 * HOUR_MS, per: 'impression' }] },
      { generators: [], crosses: [], affinity: { field: 'categories', prefix: 'cat:', windowsMs: [], weights: { click: 1 } } },
    ];
    for (const [c, cfg] of configs.entries()) {
      const { events, catalog, space } = await fittedSpace(cfg);
      const ex = servingExtractor(space, events);
      const t0 = events.timestamp[events.length - 1] - HOUR_MS;
      for (const kind of ['lr', 'fm'] as const) {
        const model = new RankingModel(space, randomRanker(kind, space.dim, 10 + c), { click: 1 });
        const { maxDiff } = compare(model, ex, catalog.size, t0, 20 + c, { positions: true, requests: 20 });
        assert.ok(maxDiff < 2e-5, `config ${c}, ${kind}: the fused scores differ by ${maxDiff}`);
      }
    }
  });

  it('scores what training saw: the ranker on the training rows of the same impressions', async () => {
    const { events, samples, space } = await fittedSpace();
    const model = new RankingModel(space, randomRanker('fm', space.dim, 5), { click: 1 });
    const train = samples.encode(space);
    const z = model.ranker.logits(rowsBatch(train.x, space.dim), 0);
    let checked = 0;
    for (const g of [Math.floor(samples.groups * 0.5), samples.groups - 1]) {
      // the profiles as they were at the impression: the events before it
      const { rows, ex, info, cands } = servedGroup(space, events, samples, g);
      const fused = new FusedScorer(model, ex);
      const got = fused.score(ex.fetch(info) as RequestState, cands);
      rows.forEach((s, r) => {
        assert.ok(Math.abs(got[r] - sigmoid(z[s])) < 2e-6, `sample ${s}: served ${got[r]}, trained on ${sigmoid(z[s])}`);
        checked++;
      });
    }
    assert.ok(checked >= 2);
  });

  it('falls back to encode + score for items outside the catalog and for rankers without an additive form', async () => {
    const { events, catalog, space } = await fittedSpace();
    const ex = servingExtractor(space, events);
    const model = new RankingModel(space, randomRanker('lr', space.dim, 6), { click: 1 });
    const fused = new FusedScorer(model, ex);
    const now = events.timestamp[events.length - 1];
    const cands: CandidateInfo[] = [{ item: 3 }, { item: catalog.size + 5, sources: [{ generator: 'a', rank: 1, score: 0.5 }] }, { item: -1 }];
    const st = ex.fetch({ user: 4, now }) as RequestState;
    const want = Array.from(model.score(ex.encode(st, cands)));
    assert.deepEqual(Array.from(fused.score(ex.fetch({ user: 4, now }) as RequestState, cands)), want);
    // a ranker that only predicts
    const plain = randomRanker('lr', space.dim, 6);
    const opaque: Ranker = { kind: 'x', name: 'x', heads: plain.heads, dim: plain.dim, fit: plain.fit.bind(plain), logits: plain.logits.bind(plain), predict: plain.predict.bind(plain), save: plain.save.bind(plain) };
    const f2 = new FusedScorer(new RankingModel(space, opaque, { click: 1 }), ex);
    assert.equal(f2.fused, false);
    assert.deepEqual(Array.from(f2.score(ex.fetch({ user: 4, now }) as RequestState, [{ item: 3 }, { item: 7 }])), Array.from(model.score(ex.encode(ex.fetch({ user: 4, now }) as RequestState, [{ item: 3 }, { item: 7 }]))));
  });

  it('finds knot intervals like a binary search (floorIndex)', () => {
    const r = rng(3);
    for (let t = 0; t < 200; t++) {
      const m = 2 + Math.floor(r() * 80);
      const x = Float64Array.from({ length: m }, () => (t % 2 ? Math.exp(r() * 20) : Math.floor(r() * 10))).sort();
      for (let q = 0; q < 200; q++) {
        const p = q % 3 ? x[0] + r() * (x[m - 1] - x[0]) : x[Math.floor(r() * m)];
        if (!(p >= x[0] && p < x[m - 1])) continue;
        let want = 0;
        while (want + 1 < m && x[want + 1] <= p) want++;
        assert.equal(floorIndex(x, p), want);
      }
    }
  });
});
