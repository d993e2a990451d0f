import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Funnel, RankFusionScorer, StaticListGenerator, fusedTopK, mergeCandidates, topByScore } from '../../src/funnel/pipeline.js';
import type { Candidate, ScoredItem, Scorer } from '../../src/funnel/types.js';
import type { RequestContext, RerankRule } from '../../src/funnel/types.js';

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return { history: new Int32Array(0), k: 10, scene: 'home', now: 0, exclude: new Set(), debug: false, ...over };
}
const gen = (name: string, items: number[]) => new StaticListGenerator(name, Int32Array.from(items), Float32Array.from(items.map((_, i) => 1 - i / 10)));

describe('funnel pipeline', () => {
  it('selects the k best as the full sort orders them (ties by the lower item)', () => {
    let seed = 3;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 200; t++) {
      const n = Math.floor(rnd() * 60);
      const candidates: Candidate[] = Array.from({ length: n }, () => ({ item: Math.floor(rnd() * 1000), sources: [] }));
      const scores = Float32Array.from({ length: n }, () => Math.floor(rnd() * 8) / 8); // many ties
      const k = Math.floor(rnd() * 25);
      const full = [...Array(n).keys()].sort((a, b) => (scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : candidates[a].item - candidates[b].item));
      assert.deepEqual(topByScore(scores, candidates, k).map((i) => candidates[i].item), full.slice(0, k).map((i) => candidates[i].item), `case ${t}`);
    }
  });

  it('merges with deduplication and keeps every provenance', () => {
    const m = mergeCandidates(['a', 'b'], [
      { items: Int32Array.from([1, 2]), scores: Float32Array.from([0.9, 0.5]) },
      { items: Int32Array.from([2, 3]), scores: Float32Array.from([7, 6]) },
    ]);
    assert.deepEqual(m.map((c) => c.item), [1, 2, 3]);
    assert.deepEqual(m[1].sources, [{ generator: 'a', rank: 1, score: 0.5 }, { generator: 'b', rank: 0, score: 7 }]);
  });

  it('merges against a brute-force Map merge on random outputs, with keep asked once per item', () => {
    let seed = 3;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (let round = 0; round < 30; round++) {
      const outputs = Array.from({ length: 1 + rnd(4) }, () => {
        const items = Int32Array.from({ length: round >= 25 ? 400 + rnd(400) : rnd(40) }, () => rnd(round < 15 ? 60 : 5000));
        return { items, scores: Float32Array.from(items, () => rnd(1000) / 7) };
      });
      const names = outputs.map((_, g) => `g${g}`);
      const asked = new Map<number, number>();
      const keep = (i: number) => (asked.set(i, (asked.get(i) ?? 0) + 1), i % 3 !== 0);
      const got = mergeCandidates(names, outputs, keep);
      const byItem = new Map<number, { item: number; sources: { generator: string; rank: number; score: number }[] }>();
      outputs.forEach((o, g) => o.items.forEach((item, r) => {
        if (!byItem.has(item)) byItem.set(item, { item, sources: [] });
        byItem.get(item)!.sources.push({ generator: names[g], rank: r, score: o.scores[r] });
      }));
      assert.deepEqual(got, [...byItem.values()].filter((c) => c.item % 3 !== 0));
      assert.ok([...asked.values()].every((n) => n === 1), 'keep is asked once per item');
      assert.deepEqual(mergeCandidates(names, outputs), [...byItem.values()], 'without keep: every item');
      // outputs marked as filtered already are not asked again (their items all kept)
      const trusted = outputs.map((_, g) => g % 2 === 0);
      let askedTrusted = 0;
      const got2 = mergeCandidates(names, outputs, (item) => (askedTrusted++, item % 3 !== 0), trusted);
      const want2 = new Map<number, Candidate>();
      const dropped = new Set<number>();
      let firstUntrusted = 0;
      outputs.forEach((o, g) => o.items.forEach((item, r) => {
        if (dropped.has(item)) return;
        const c = want2.get(item);
        if (c) c.sources.push({ generator: names[g], rank: r, score: o.scores[r] });
        else if (trusted[g] || item % 3 !== 0) want2.set(item, { item, sources: [{ generator: names[g], rank: r, score: o.scores[r] }] });
        else dropped.add(item);
        if (!trusted[g] && !c) firstUntrusted++;
      }));
      assert.deepEqual(got2, [...want2.values()]);
      assert.ok(askedTrusted <= firstUntrusted, 'asked only for items first proposed by an unmarked generator');
    }
    assert.deepEqual(mergeCandidates(['a'], [{ items: Int32Array.from([-1, 4]), scores: Float32Array.from([1, 2]) }]).map((c) => c.item), [4], 'negative indices are no items');
  });

  it('merges, fuses and selects in one pass exactly as merge → rank fusion → top k do', () => {
    let seed = 11;
    const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * n);
    const general = (names: string[], outputs: { items: Int32Array; scores: Float32Array }[], fusion: RankFusionScorer, k: number, keep?: (i: number) => boolean, kept?: boolean[]) => {
      const cands = mergeCandidates(names, outputs, keep, kept);
      const scores = fusion.score(ctx(), cands);
      const items: ScoredItem[] = topByScore(scores, cands, k).map((i) => ({ item: cands[i].item, sources: cands[i].sources, score: scores[i] }));
      return { items, candidates: cands.length };
    };
    let compared = 0;
    for (let round = 0; round < 200; round++) {
      const G = 1 + rnd(5);
      const outputs = Array.from({ length: G }, () => {
        // distinct items per output (a generator lists an item once), some negative
        const n = round >= 180 ? 300 + rnd(300) : rnd(40);
        const items = new Set<number>();
        while (items.size < n) items.add(rnd(round < 100 ? 80 : 3000) - (rnd(20) === 0 ? 5000 : 0));
        const arr = Int32Array.from(items);
        return { items: arr, scores: Float32Array.from(arr, () => rnd(1000) / 7) };
      });
      const names = outputs.map((_, g) => `g${g}`);
      const weights: Record<string, number> = {};
      for (const n of names) if (rnd(2)) weights[n] = [0.5, 2, 3.7, 0][rnd(4)];
      const fusion = new RankFusionScorer(weights, [60, 0, 10][rnd(3)]);
      const k = [0, 1, 5, 20, 200, 1000][rnd(6)];
      const keep = rnd(2) ? (i: number) => i % 3 !== 0 : undefined;
      const kept = rnd(2) ? outputs.map(() => rnd(2) === 0) : undefined;
      const fast = fusedTopK(names, outputs, fusion, k, keep, kept);
      assert.ok(fast, `round ${round}: no duplicates, so the one pass answers`);
      assert.deepEqual(fast, general(names, outputs, fusion, k, keep, kept), `round ${round}`);
      compared += fast.items.length;
    }
    assert.ok(compared > 2000, 'the rounds returned items to compare');
    // an output listing an item twice: left to the general path (which keeps both proposals)
    const dup = [{ items: Int32Array.from([1, 2, 1]), scores: Float32Array.from([3, 2, 1]) }];
    assert.equal(fusedTopK(['a'], dup, new RankFusionScorer(), 5), undefined);
    assert.deepEqual(general(['a'], dup, new RankFusionScorer(), 5).items[0].sources.length, 2);
  });

  it('serves the same through the one-pass fusion as through the general path', async () => {
    // A scorer that delegates to rank fusion is not plain rank fusion: the funnel takes the general path.
    const fusion = new RankFusionScorer({ b: 3 });
    const wrapped: Scorer = { name: 'wrapped', score: (c, cands) => fusion.score(c, cands) };
    let seed = 5;
    const rnd = (n: number) => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * n);
    const lists = ['a', 'b', 'c'].map((name) => gen(name, [...new Set(Array.from({ length: 60 }, () => rnd(100)))]));
    const slots = lists.map((g, i) => ({ generator: g, quota: 10 + 10 * i, ...(g.name === 'b' ? { weight: 3 } : {}) }));
    const fast = new Funnel({ generators: slots });
    const slow = new Funnel({ generators: slots, scorer: wrapped });
    for (let t = 0; t < 20; t++) {
      const c = ctx({ k: 1 + rnd(40), exclude: new Set(Array.from({ length: rnd(10) }, () => rnd(100))), ...(t % 2 ? { allow: (i: number) => i % 4 !== 1 } : {}) });
      const a = await fast.recommend(c);
      const b = await slow.recommend(c);
      assert.deepEqual(a.items, b.items, `case ${t}`);
      assert.equal(a.candidates, b.candidates);
      assert.equal(a.timings.score_ms, 0, 'the one pass scored while merging');
      assert.ok(b.timings.score_ms > 0 || b.timings.merge_ms >= 0);
    }
  });

  it('waits for generators that answer with a promise or another thenable', async () => {
    const later = { name: 'later', generate: () => Promise.resolve({ items: Int32Array.from([7, 8]), scores: Float32Array.from([1, 0.5]) }) };
    const thenable = { name: 'thenable', generate: () => ({ then: (ok: (o: { items: Int32Array; scores: Float32Array }) => void) => ok({ items: Int32Array.from([8, 9]), scores: Float32Array.from([1, 0.5]) }) }) };
    const f = new Funnel({ generators: [{ generator: later, quota: 2 }, { generator: thenable as never, quota: 2 }, { generator: gen('now', [1]), quota: 1 }] });
    const r = await f.recommend(ctx());
    assert.deepEqual(r.items.map((x) => x.item).sort((a, b) => a - b), [1, 7, 8, 9]);
    assert.equal(r.items[0].item, 8, 'proposed by two generators');
    // a thenable as the only asynchronous answer
    const g = new Funnel({ generators: [{ generator: thenable as never, quota: 2 }, { generator: gen('now', [1]), quota: 1 }] });
    assert.deepEqual((await g.recommend(ctx())).items.map((x) => x.item), [1, 8, 9]);
  });

  it('fuses ranks: an item proposed by two generators beats one proposed by one', async () => {
    const f = new Funnel({ generators: [{ generator: gen('a', [1, 2, 3]), quota: 3 }, { generator: gen('b', [3, 4]), quota: 2 }] });
    const r = await f.recommend(ctx());
    assert.equal(r.items[0].item, 3);
    assert.ok(Math.abs(r.items[0].score - (1 / 63 + 1 / 61)) < 1e-6);
    assert.deepEqual(r.items.map((x) => x.item), [3, 1, 2, 4], "2 and 4 tie (rank 1 each): lower index first");
    assert.equal(r.candidates, 4);
  });

  it('respects quotas, k, exclusions, filters and weights', async () => {
    const f = new Funnel({ generators: [{ generator: gen('a', [1, 2, 3, 4, 5]), quota: 3 }, { generator: gen('b', [9, 8]), quota: 5, weight: 10 }] });
    const r = await f.recommend(ctx({ k: 3, exclude: new Set([2]), allow: (i) => i !== 8 }));
    assert.deepEqual(r.items.map((x) => x.item), [9, 1, 3]);
    // an availability mask: 9 masked out; 3 beyond its end
    const m = await f.recommend(ctx({ k: 5, exclude: new Set([2]), mask: Uint8Array.from({ length: 3 }, () => 1) }));
    assert.deepEqual(m.items.map((x) => x.item), [1]);
    const m2 = await f.recommend(ctx({ k: 5, exclude: new Set([2]), mask: Uint8Array.from({ length: 10 }, (_, i) => (i === 9 ? 0 : 1)) }));
    assert.deepEqual(m2.items.map((x) => x.item), [8, 1, 3, 4]);
    const s = new RankFusionScorer({ b: 2 }, 0);
    assert.deepEqual([...s.score(ctx(), [{ item: 1, sources: [{ generator: 'b', rank: 0, score: 0 }, { generator: 'a', rank: 1, score: 0 }] }])], [2.5]);
  });

  it('applies re-ranking rules in order and traces in debug mode', async () => {
    const reverse: RerankRule = { name: 'reverse', apply: (_c, l) => [...l].reverse() };
    const f = new Funnel({ generators: [{ generator: gen('a', [1, 2, 3]), quota: 3 }], rules: [reverse] });
    const r = await f.recommend(ctx({ debug: true }));
    assert.deepEqual(r.items.map((x) => x.item), [3, 2, 1]);
    assert.match(r.items[0].trace?.[0] ?? '', /rank_fusion/);
    assert.ok(r.timings.total_ms >= 0);
  });

  it('refuses an empty funnel, duplicate generator names and bad quotas', () => {
    assert.throws(() => new Funnel({ generators: [] }), /at least one generator/);
    assert.throws(() => new Funnel({ generators: [{ generator: gen('a', [1]), quota: 1 }, { generator: gen('a', [2]), quota: 1 }] }), /used twice/);
    assert.throws(() => new Funnel({ generators: [{ generator: gen('a', [1]), quota: 0 }] }), /quota/);
  });
});
