import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Funnel, RankFusionScorer, RankerScorer, StaticListGenerator } from '../../src/funnel/pipeline.js';
import type { Candidate, RequestContext } from '../../src/funnel/types.js';
import type { ProfileStore } from '../../src/profiles/types.js';
import { buildSamples } from '../../src/rank/samples.js';
import { trainRanker } from '../../src/rank/trainer.js';
import { RankingModel, loadRankingComponent } from '../../src/rank/model.js';
import { replaySynth } from '../../src/rank/evaluate.js';
import { FeatureExtractor } from '../../src/rank/features.js';
import { fakeProvenance, freshExtractor, space, synthFixture } from './helpers.js';

async function trained(model: 'lr' | 'fm' = 'lr') {
  const { events, catalog } = synthFixture();
  const base = space(catalog);
  const ex = freshExtractor(base);
  const { samples } = await buildSamples(events, ex, { provenance: fakeProvenance });
  const r = await trainRanker(base, samples, { model, heads: { click: 1, conversion: 0.5 }, epochs: 2, ...(model === 'fm' ? { fm: { l2: 1e-3, l2V: 1e-2, lr: 0.005 } } : {}) });
  // the profile store now holds the whole log: a serving process's state
  return { ...r, catalog, profiles: ex.profiles, now: events.timestamp[events.length - 1] + 1 };
}

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return { history: new Int32Array(0), k: 5, scene: 'home', now: 0, exclude: new Set(), debug: false, ...over };
}

describe('ranker training, model folder and the funnel scorer', () => {
  it('trains, calibrates and reports on held-out samples', async () => {
    const { report } = await trained('lr');
    assert.ok(report.samples.train > report.samples.calibration && report.samples.calibration > report.samples.test);
    const click = report.test.click;
    assert.ok(click.auc > 0.6 && click.auc <= 1, `test AUC ${click.auc}`);
    assert.ok(click.logLoss > 0 && Number.isFinite(click.logLossCalibrated));
    assert.ok(click.eceCalibrated >= 0 && click.reliability.length === 10);
    assert.ok(click.clickRank < 0.5, `click-rank ${click.clickRank}`);
    assert.ok('conversion' in report.test);
  });

  it('saves and loads a ranking model with identical scores (FM, two heads)', async () => {
    const { model, catalog, profiles, now } = await trained('fm');
    const dir = mkdtempSync(join(tmpdir(), 'funnel-ranking-'));
    try {
      await model.save(join(dir, 'ranker'));
      const back = await RankingModel.load(join(dir, 'ranker'), catalog);
      const viaComponent = await loadRankingComponent(dir, { ranker: { kind: 'ranker:fm', path: 'ranker' } }, catalog);
      assert.ok(viaComponent);
      assert.equal(await loadRankingComponent(dir, {}, catalog), undefined);
      assert.deepEqual(back.headWeights(), { click: 1, conversion: 0.5 });
      const cands: Candidate[] = Array.from({ length: 40 }, (_, i) => ({ item: i * 7, sources: i % 2 ? [{ generator: 'a', rank: i, score: 0.1 * i }] : [] }));
      const ex1 = new FeatureExtractor(model.space, profiles);
      const ex2 = new FeatureExtractor(back.space, profiles);
      const s1 = model.score(ex1.encode(ex1.fetch({ user: 3, now }) as never, cands));
      const s2 = back.score(ex2.encode(ex2.fetch({ user: 3, now }) as never, cands));
      assert.deepEqual(s2, s1);
      // the combined score is the weighted sum of the calibrated heads
      const p = model.probabilities(ex1.encode(ex1.fetch({ user: 3, now }) as never, cands));
      for (let r = 0; r < 40; r++) assert.ok(Math.abs(s1[r] - (p[0][r] + 0.5 * p[1][r])) < 1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scores the funnel with the ranker, and falls back to rank fusion without one', async () => {
    const { model, profiles, now } = await trained('lr');
    const items = Int32Array.from({ length: 30 }, (_, i) => i * 3);
    const gen = new StaticListGenerator('a', items, Float32Array.from(items, (_, i) => 1 - i / 30));
    const scorer = new RankerScorer(model, profiles);
    assert.ok(scorer.active);
    assert.equal(scorer.name, 'ranker:lr');
    const f = new Funnel({ generators: [{ generator: gen, quota: 30 }], scorer });
    const r = await f.recommend(ctx({ userIdx: 5, now, k: 10, debug: true }));
    assert.equal(r.items.length, 10);
    assert.match(r.items[0].trace?.[0] ?? '', /ranker:lr/);
    // the funnel's order is the model's order on the same features
    const cands: Candidate[] = Array.from(items, (it, rank) => ({ item: it, sources: [{ generator: 'a', rank, score: 1 - rank / 30 }] }));
    const ex = new FeatureExtractor(model.space, profiles);
    const direct = model.score(ex.encode(ex.fetch({ user: 5, now, scene: 'home' }) as never, cands));
    const best = Array.from(items).sort((a, b) => direct[b / 3] - direct[a / 3] || a - b).slice(0, 10);
    assert.deepEqual(r.items.map((x) => x.item), best);
    // an async profile store (a networked one) gives the same scores through a promise
    const asyncProfiles = new Proxy(profiles, {
      get(t, k, rcv) {
        const v = Reflect.get(t, k, rcv);
        if (typeof v !== 'function') return v;
        if (['userCounts', 'userAffinities', 'recentItems', 'topItems'].includes(k as string)) return (...a: unknown[]) => Promise.resolve(v.apply(t, a));
        return v.bind(t);
      },
    }) as ProfileStore;
    const asyncScorer = new RankerScorer(model, asyncProfiles);
    const pr = asyncScorer.score(ctx({ userIdx: 5, now }), cands);
    assert.ok(pr instanceof Promise);
    // (the funnel's scorer sums the logits without building the vectors: rank/fused.ts, equal up to float rounding)
    const viaPromise = await pr;
    assert.equal(viaPromise.length, direct.length);
    for (let r = 0; r < direct.length; r++) assert.ok(Math.abs(viaPromise[r] - direct[r]) < 1e-5, `candidate ${r}: ${viaPromise[r]} vs ${direct[r]}`);
    // without a model (or without profiles): rank fusion
    const fallback = new RankerScorer(undefined, profiles);
    assert.ok(!fallback.active);
    assert.equal(fallback.name, 'rank_fusion');
    assert.deepEqual(fallback.score(ctx(), cands), new RankFusionScorer().score(ctx(), cands));
    assert.equal(new RankerScorer(model, undefined).name, 'rank_fusion');
  });

  it('replays synth logs: the ranker beats ordering by the generators under the true click model', async () => {
    const r = await replaySynth({ synth: { users: 400, items: 400, events: 40_000, seed: 4, days: 14 } });
    const o = r.orderings;
    assert.ok(o.ranker.expectedClicks > o.rank_fusion.expectedClicks * 1.03, `ranker ${o.ranker.expectedClicks} vs rank fusion ${o.rank_fusion.expectedClicks}`);
    assert.ok(o.oracle.expectedClicks >= o.ranker.expectedClicks);
    assert.ok(o.random.expectedClicks < o.rank_fusion.expectedClicks);
    assert.ok(r.gapClosed > 0 && r.gapClosed <= 1);
    assert.ok(r.trueClickAuc > 0.6);
  });
});
