import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ColumnarCatalog } from '../../src/funnel/catalog.js';
import { Funnel, StaticListGenerator } from '../../src/funnel/pipeline.js';
import { RuleConfigError, buildRule, buildRules, ruleEffects, type RuleDeps } from '../../src/funnel/rules.js';
import type { RequestContext, ScoredItem } from '../../src/funnel/types.js';

const NOW = Date.UTC(2026, 0, 10);
const HOUR = 3_600_000;

function ctx(over: Partial<RequestContext> = {}): RequestContext {
  return { history: new Int32Array(0), k: 10, scene: 'home', now: NOW, exclude: new Set(), debug: false, ...over };
}
/** Items best first, scores 1, 0.9, 0.8... unless given. */
function list(items: number[], scores?: number[]): ScoredItem[] {
  return items.map((item, i) => ({ item, score: scores ? scores[i] : 1 - i / 10, sources: [] }));
}
const ids = (l: ScoredItem[]) => l.map((x) => x.item);

/**
 * 10 items: i → category, brand, provider, rating, age. Items 8 and 9 are near duplicates of 0
 * and 1 in embedding space.
 */
const catalog = ColumnarCatalog.fromItems([
  /* 0 */ { id: 'i0', categories: ['shoes'], createdAt: NOW - 1 * HOUR, attributes: { brand: 'acme', provider: 'big', rating: 4.5 } },
  /* 1 */ { id: 'i1', categories: ['shoes'], createdAt: NOW - 100 * HOUR, attributes: { brand: 'acme', provider: 'big', rating: 3.9 } },
  /* 2 */ { id: 'i2', categories: ['shoes', 'sale'], createdAt: NOW - 10 * HOUR, attributes: { brand: 'zeta', provider: 'big', rating: 2 } },
  /* 3 */ { id: 'i3', categories: ['hats'], available: false, attributes: { brand: 'zeta', provider: 'big' } },
  /* 4 */ { id: 'i4', categories: ['hats'], createdAt: NOW - 2 * HOUR, attributes: { provider: 'small', rating: 5 } },
  /* 5 */ { id: 'i5', categories: ['socks'], createdAt: NOW - 500 * HOUR, attributes: { brand: 'acme', provider: 'small', rating: 1 } },
  /* 6 */ { id: 'i6', categories: ['socks'], createdAt: NOW, attributes: { provider: 'tiny', rating: 3 } },
  /* 7 */ { id: 'i7', attributes: { provider: 'tiny', rating: 4 } },
  /* 8 */ { id: 'i8', categories: ['shoes'], createdAt: NOW, attributes: { provider: 'big' } },
  /* 9 */ { id: 'i9', categories: ['shoes'], createdAt: NOW, attributes: { provider: 'big' } },
]).withEmbeddings({
  dim: 3,
  // 0 ≈ 8, 1 ≈ 9; the others point elsewhere
  vectors: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1, -1, 0, 0, 0, -1, 0, 0.99, 0.05, 0, 0.05, 0.99, 0]),
});
const deps = { catalog };
const rule = (decl: object) => buildRule(decl, deps);

describe('rules: dedup', () => {
  it('removes repeated items, keeping the best', () => {
    assert.deepEqual(ids(rule({ rule: 'dedup' }).apply(ctx(), list([1, 2, 1, 3, 2]))), [1, 2, 3]);
  });

  it('keeps at most `keep` items per grouping value; items without one stay', () => {
    const l = list([0, 1, 2, 4, 5, 3]);
    assert.deepEqual(ids(rule({ rule: 'dedup', by: 'brand' }).apply(ctx(), l)), [0, 2, 4]);
    assert.deepEqual(ids(rule({ rule: 'dedup', by: 'brand', keep: 2 }).apply(ctx(), l)), [0, 1, 2, 4, 3]);
  });
});

describe('rules: filters', () => {
  it('filter_unavailable drops unavailable items; unknown ones as configured', () => {
    const l = list([0, 3, 42, 4]);
    assert.deepEqual(ids(rule({ rule: 'filter_unavailable' }).apply(ctx(), l)), [0, 42, 4]);
    assert.deepEqual(ids(rule({ rule: 'filter_unavailable', unknown: 'remove' }).apply(ctx(), l)), [0, 4]);
  });

  it('filter_purchased uses the request history and its types', () => {
    const c = ctx({ history: Int32Array.from([4, 0, 6]), historyTypes: ['purchase', 'view', 'add_to_cart'] });
    assert.deepEqual(ids(rule({ rule: 'filter_purchased' }).apply(c, list([0, 4, 6]))), [0, 6]);
    assert.deepEqual(ids(rule({ rule: 'filter_purchased', types: ['purchase', 'add_to_cart'] }).apply(c, list([0, 4, 6]))), [0]);
    assert.deepEqual(ids(rule({ rule: 'filter_purchased' }).apply(ctx({ history: Int32Array.from([4]) }), list([0, 4]))), [0, 4], 'no types: nothing known');
  });

  it('filter_rating removes items rated below the minimum', () => {
    const l = list([0, 1, 2, 3, 5]);
    assert.deepEqual(ids(rule({ rule: 'filter_rating', min: 3.5 }).apply(ctx(), l)), [0, 1, 3]);
    assert.deepEqual(ids(rule({ rule: 'filter_rating', min: 3.5, keepUnrated: false }).apply(ctx(), l)), [0, 1]);
  });

  it('filter keeps or removes by a predicate over attributes', () => {
    const all = list([0, 1, 2, 3, 4, 5, 6, 7]);
    const keep = (where: object) => ids(rule({ rule: 'filter', keep: where }).apply(ctx(), all));
    const remove = (where: object) => ids(rule({ rule: 'filter', remove: where }).apply(ctx(), all));
    assert.deepEqual(keep({ attr: 'categories', op: 'eq', value: 'hats' }), [3, 4]);
    assert.deepEqual(keep({ attr: 'categories', op: 'in', value: ['sale', 'socks'] }), [2, 5, 6]);
    assert.deepEqual(remove({ attr: 'categories', op: 'nin', value: ['shoes'] }), [0, 1, 2]);
    assert.deepEqual(keep({ attr: 'categories', op: 'missing' }), [7]);
    assert.deepEqual(keep({ attr: 'brand', op: 'ne', value: 'acme' }), [2, 3, 4, 6, 7]);
    assert.deepEqual(keep({ attr: 'rating', op: 'gte', value: 4 }), [0, 4, 7]);
    assert.deepEqual(keep({ attr: 'rating', op: 'missing' }), [3]);
    assert.deepEqual(keep({ attr: 'id', op: 'in', value: ['i1', 'i6', 'nope'] }), [1, 6]);
    assert.deepEqual(keep({ attr: 'item', op: 'lt', value: 2 }), [0, 1]);
    assert.deepEqual(keep({ attr: 'age_days', op: 'lte', value: 1 }), [0, 2, 4, 6]);
    assert.deepEqual(keep({ all: [{ attr: 'provider', op: 'eq', value: 'big' }, { not: { attr: 'brand', op: 'eq', value: 'acme' } }] }), [2, 3]);
    assert.deepEqual(keep({ any: [{ attr: 'provider', op: 'eq', value: 'tiny' }, { attr: 'rating', op: 'lt', value: 2 }] }), [5, 6, 7]);
  });
});

describe('rules: diversity', () => {
  it('caps items per category in the top K, deferring the others in order', () => {
    const l = list([0, 1, 8, 4, 2, 5, 3]);
    const out = rule({ rule: 'diversity', maxPerCategory: 1, topK: 3 }).apply(ctx(), l);
    assert.deepEqual(ids(out), [0, 4, 5, 1, 8, 2, 3]);
    const two = rule({ rule: 'diversity', maxPerCategory: 2, topK: 4 }).apply(ctx(), l);
    assert.deepEqual(ids(two), [0, 1, 4, 5, 8, 2, 3], 'item 2 (shoes+sale) is blocked by shoes');
  });

  it('defaults topK to the request k and fills the top when the cap cannot be met', () => {
    const out = rule({ rule: 'diversity', maxPerCategory: 1 }).apply(ctx({ k: 3 }), list([0, 1, 8, 9]));
    assert.deepEqual(ids(out), [0, 1, 8, 9]);
    const byBrand = rule({ rule: 'diversity', by: 'brand', maxPerCategory: 1, topK: 3 }).apply(ctx(), list([0, 1, 5, 7, 2]));
    assert.deepEqual(ids(byBrand), [0, 7, 2, 1, 5], 'an item without a brand is not capped');
  });
});

describe('rules: mmr', () => {
  it('λ = 1 keeps the relevance order', () => {
    const l = list([0, 8, 1, 9, 4]);
    assert.deepEqual(ids(rule({ rule: 'mmr', lambda: 1, topK: 5 }).apply(ctx(), l)), [0, 8, 1, 9, 4]);
  });

  it('pushes near duplicates down with a lower λ, O(n·K) picks', () => {
    // relevance after min-max: 1, .98, .9, .88, .8, 0; 8 ≈ 0 and 9 ≈ 1 in embedding space
    const l = list([0, 8, 1, 9, 4, 2], [1, 0.98, 0.9, 0.88, 0.8, 0]);
    const out = rule({ rule: 'mmr', lambda: 0.5, topK: 3 }).apply(ctx(), l);
    assert.deepEqual(ids(out), [0, 1, 4, 8, 9, 2]);
    const dot = rule({ rule: 'mmr', lambda: 0.5, topK: 2, similarity: 'dot' }).apply(ctx(), l);
    assert.deepEqual(ids(dot).slice(0, 2), [0, 1]);
  });
});

describe('rules: boost, bury, pin', () => {
  it('boost rescales matching scores and re-sorts (stable)', () => {
    const l = list([0, 1, 4, 6], [1, 0.8, 0.5, 0.4]);
    const out = rule({ rule: 'boost', where: { attr: 'provider', op: 'in', value: ['small', 'tiny'] }, factor: 2 }).apply(ctx(), l);
    assert.deepEqual(ids(out), [0, 4, 1, 6], 'ties keep their previous order');
    assert.deepEqual(out.map((x) => x.score), [1, 1, 0.8, 0.8]);
    const add = rule({ rule: 'boost', where: { attr: 'item', op: 'eq', value: 6 }, add: -1 }).apply(ctx(), list([6, 0]));
    assert.deepEqual(ids(add), [0, 6]);
  });

  it('bury moves matching items to the end, in order', () => {
    const out = rule({ rule: 'bury', where: { attr: 'brand', op: 'eq', value: 'acme' } }).apply(ctx(), list([0, 2, 1, 4, 5, 6]));
    assert.deepEqual(ids(out), [2, 4, 6, 0, 1, 5]);
  });

  it('pin places items at fixed positions, injecting absent ones when allowed', () => {
    const p = rule({ rule: 'pin', items: [{ id: 'i6', position: 0 }, { item: 7, position: 2 }, { id: 'i4', position: 20 }] });
    const out = p.apply(ctx(), list([0, 1, 2, 6, 5]));
    assert.deepEqual(ids(out), [6, 0, 7, 1, 2, 5, 4]);
    assert.equal(out[2].sources.length, 0, 'injected');
    assert.equal(out[2].score, out[3].score, 'an injected item takes the score at its position');
    const excluded = p.apply(ctx({ exclude: new Set([7]), allow: (i) => i !== 4 }), list([0, 1]));
    assert.deepEqual(ids(excluded), [6, 0, 1]);
    const noInject = rule({ rule: 'pin', inject: false, items: [{ item: 7, position: 0 }, { item: 1, position: 0 }] }).apply(ctx(), list([0, 1]));
    assert.deepEqual(ids(noInject), [1, 0]);
    const unavailable = rule({ rule: 'pin', items: [{ item: 3, position: 0 }] }).apply(ctx(), list([0]));
    assert.deepEqual(ids(unavailable), [0]);
  });
});

describe('rules: freshness', () => {
  it('decays scores by age with a half-life', () => {
    // 5 is 500 h old, 0 is 1 h old, 6 brand new
    const out = rule({ rule: 'freshness', halfLifeHours: 100 }).apply(ctx(), list([5, 0, 6], [1, 0.9, 0.5]));
    assert.deepEqual(ids(out), [0, 6, 5]);
    assert.ok(Math.abs(out[0].score - 0.9 * 2 ** -0.01) < 1e-12);
    assert.ok(Math.abs(out[2].score - 2 ** -5) < 1e-12);
  });

  it('keeps a floor, handles unknown ages and negative scores', () => {
    const f = rule({ rule: 'freshness', halfLifeHours: 1, floor: 0.5 });
    const out = f.apply(ctx(), list([5, 7], [1, 0.8]));
    assert.deepEqual(ids(out), [7, 5], 'unknown age is neutral by default');
    assert.ok(Math.abs(out[1].score - 0.5) < 1e-9);
    const oldest = rule({ rule: 'freshness', halfLifeHours: 1, floor: 0.5, unknownAge: 'oldest' }).apply(ctx(), list([5, 7], [1, 0.8]));
    assert.deepEqual(oldest.map((x) => x.score), [0.5, 0.4]);
    const neg = rule({ rule: 'freshness', halfLifeHours: 1 }).apply(ctx(), list([6, 5], [-1, -1]));
    assert.deepEqual(ids(neg), [6, 5], 'a stale negative score goes further down');
  });
});

describe('rules: fairness', () => {
  it('gives each provider its minimum share of the top K, keeping the list order', () => {
    // big: 0 1 2 8 9, small: 4 5, tiny: 6
    const l = list([0, 1, 2, 8, 9, 4, 5, 6]);
    const out = rule({ rule: 'fairness', by: 'provider', minShare: 0.25, topK: 4 }).apply(ctx(), l);
    assert.deepEqual(ids(out), [0, 1, 4, 6, 2, 8, 9, 5]);
    const perValue = rule({ rule: 'fairness', by: 'provider', minShare: { small: 0.5 }, topK: 4 }).apply(ctx(), l);
    assert.deepEqual(ids(perValue), [0, 1, 4, 5, 2, 8, 9, 6]);
  });

  it('serves values by their best item when the shares cannot all be met', () => {
    const l = list([0, 4, 6, 1]);
    const out = rule({ rule: 'fairness', by: 'provider', minShare: 0.5, topK: 2 }).apply(ctx(), l);
    assert.deepEqual(ids(out), [0, 4, 6, 1]);
    const untouched = rule({ rule: 'fairness', by: 'provider', minShare: 0.1, topK: 3 }).apply(ctx(), list([0, 4, 6]));
    assert.deepEqual(ids(untouched), [0, 4, 6]);
  });
});

describe('rules: debug traces and effects', () => {
  it('traces what each rule did to each item; removed items go to ruleEffects', () => {
    const c = ctx({ debug: true });
    const rules = buildRules(
      [
        { rule: 'dedup' },
        { rule: 'filter_unavailable' },
        { rule: 'boost', name: 'promote-small', where: { attr: 'provider', op: 'eq', value: 'small' }, factor: 10 },
      ],
      deps,
    );
    let l = list([0, 1, 0, 3, 4]);
    for (const r of rules) l = r.apply(c, l);
    assert.deepEqual(ids(l), [4, 0, 1]);
    assert.deepEqual(l[0].trace, ['promote-small: score 0.600000 → 6.00000 (matched)', 'promote-small: rank 2 → 0']);
    assert.deepEqual(l[1].trace, ['promote-small: rank 0 → 1']);
    const eff = ruleEffects(c)!;
    assert.deepEqual(
      eff.removed.map((r) => [r.item, r.rule, r.rank, r.reason]),
      [
        [0, 'dedup', 2, 'duplicate of rank 0'],
        [3, 'filter_unavailable', 2, 'unavailable'],
      ],
    );
    assert.ok(eff.effects.some((e) => e.kind === 'moved' && e.item === 4 && e.from === 2 && e.to === 0));
    // pushed down by the boosted item: a move; item 4 shifting up when 3 was removed was not
    assert.deepEqual(l[2].trace, ['promote-small: rank 1 → 2']);
    // no debug: no traces, no effects
    const c2 = ctx();
    const out = rules[2].apply(c2, list([0, 4]));
    assert.equal(out[0].trace, undefined);
    assert.equal(ruleEffects(c2), undefined);
  });

  it('works inside the funnel, after the scorer trace', async () => {
    const gen = new StaticListGenerator('pop', Int32Array.from([0, 1, 8, 4, 3]), Float32Array.from([5, 4, 3, 2, 1]));
    const f = new Funnel({
      generators: [{ generator: gen, quota: 5 }],
      rules: buildRules([{ rule: 'filter_unavailable' }, { rule: 'diversity', maxPerCategory: 1, topK: 2 }, { rule: 'pin', items: [{ id: 'i6', position: 1 }] }], deps),
    });
    const c = ctx({ debug: true, k: 4 });
    const r = await f.recommend(c);
    assert.deepEqual(ids(r.items), [0, 6, 4, 1]);
    assert.match(r.items[2].trace![0], /^rank_fusion/);
    assert.ok(r.items[2].trace!.includes('diversity: rank 3 → 1'));
    assert.ok(r.items[1].trace!.some((t) => t.startsWith('pin: inserted at rank 1')));
    assert.deepEqual(ruleEffects(c)!.removed.map((x) => x.item), [3]);
  });

  it('every rule stays fast on 500 candidates', () => {
    const n = 500;
    const big = ColumnarCatalog.fromItems(
      Array.from({ length: 1000 }, (_, i) => ({ id: `x${i}`, categories: [`c${i % 17}`], createdAt: NOW - i * HOUR, attributes: { provider: `p${i % 5}`, rating: i % 5 } })),
    ).withEmbeddings({ dim: 32, vectors: Float32Array.from({ length: 32_000 }, (_, j) => Math.sin(j * 0.37)) });
    const rules = buildRules(
      [
        { rule: 'dedup' },
        { rule: 'dedup', by: 'provider', keep: 200 },
        { rule: 'filter_unavailable' },
        { rule: 'filter_rating', min: 1 },
        { rule: 'filter', remove: { attr: 'categories', op: 'eq', value: 'c3' } },
        { rule: 'diversity', maxPerCategory: 2, topK: 50 },
        { rule: 'mmr', lambda: 0.7, topK: 50 },
        { rule: 'boost', where: { attr: 'provider', op: 'eq', value: 'p1' }, factor: 1.5 },
        { rule: 'bury', where: { attr: 'age_days', op: 'gt', value: 30 } },
        { rule: 'freshness', halfLifeHours: 48 },
        { rule: 'fairness', by: 'provider', minShare: 0.1, topK: 50 },
        { rule: 'pin', items: [{ id: 'x7', position: 0 }] },
      ],
      { catalog: big },
    );
    const items = Array.from({ length: n }, (_, i) => (i * 7) % 1000);
    let l = list(items, items.map((_, i) => 1 - i / n));
    const t0 = performance.now();
    for (const r of rules) l = r.apply(ctx({ k: 50 }), l);
    const ms = performance.now() - t0;
    assert.ok(l.length > 300);
    assert.ok(ms < 250, `${ms.toFixed(1)} ms`);
    if (process.env.FUNNEL_RULES_TIMING) console.log(`12 rules on ${n} candidates: ${ms.toFixed(2)} ms`);
  });
});

describe('rules: declarations', () => {
  const err = (decl: unknown, re: RegExp, d: RuleDeps = deps) => {
    assert.throws(() => buildRule(decl, d), (e: unknown) => e instanceof RuleConfigError && re.test(e.message));
  };

  it('name the rule and the field in validation errors', () => {
    err({ rule: 'nope' }, /^rule\.rule: unknown rule "nope"/);
    err({ rule: 'diversity', topK: 3 }, /^rule \(diversity\)\.maxPerCategory: is required/);
    err({ rule: 'diversity', maxPerCategory: 0 }, /maxPerCategory: must be an integer >= 1 \(got 0\)/);
    err({ rule: 'diversity', maxPerCategory: 2, topk: 3 }, /\(diversity\)\.topk: unknown field/);
    err({ rule: 'diversity', maxPerCategory: 2, by: 'colour' }, /\(diversity\)\.by: no attribute 'colour' in the catalog/);
    err({ rule: 'diversity', maxPerCategory: 2, by: 'rating' }, /attribute 'rating' is numeric/);
    err({ rule: 'mmr', lambda: 1.5 }, /\(mmr\)\.lambda: must be a number <= 1/);
    err({ rule: 'mmr', lambda: 0.5 }, /mmr needs item embeddings/, { catalog: ColumnarCatalog.fromItems([{ id: 'a' }]) });
    err({ rule: 'freshness', halfLifeHours: 1 }, /freshness needs an item catalog/, {});
    err({ rule: 'filter', keep: { attr: 'rating', op: 'eq', value: 'x' } }, /\(filter\)\.keep\.value: must be a number/);
    err({ rule: 'filter', keep: { attr: 'brand', op: 'gt', value: 1 } }, /\(filter\)\.keep\.op: must be one of eq, ne, in, nin, exists, missing/);
    err({ rule: 'filter', keep: { all: [{ attr: 'brand', op: 'eq' }] } }, /keep\.all\[0\]\.value: is required/);
    err({ rule: 'filter', keep: { attr: 'brand', op: 'eq', value: 'x' }, remove: { attr: 'brand', op: 'eq', value: 'y' } }, /exactly one of 'keep' and 'remove'/);
    err({ rule: 'boost', where: { attr: 'brand', op: 'eq', value: 'x' } }, /\(boost\)\.factor: one of 'factor' and 'add'/);
    err({ rule: 'pin', items: [{ id: 'zzz', position: 0 }] }, /\(pin\)\.items\[0\]\.id: unknown item id "zzz"/);
    err({ rule: 'pin', items: [{ item: 1, position: -1 }] }, /items\[0\]\.position: must be an integer >= 0/);
    err({ rule: 'fairness', by: 'provider', minShare: { big: 0.7, small: 0.5 } }, /\(fairness\)\.minShare: shares add up to 1.2 > 1/);
    err({ rule: 'dedup', keep: 2 }, /\(dedup\)\.keep: applies to dedup by an attribute only/);
    err({ rule: 'filter_purchased', types: 'purchase' }, /types: must be a non-empty array of strings/);
    err('dedup', /a rule declaration must be an object/);
    assert.throws(() => buildRules([{ rule: 'dedup' }, { rule: 'diversity' }], deps), (e: unknown) => {
      assert.ok(e instanceof RuleConfigError);
      assert.equal(e.rule, 'diversity');
      assert.equal(e.field, 'maxPerCategory');
      assert.match(e.message, /^rules\[1\] \(diversity\)\.maxPerCategory/);
      return true;
    });
  });

  it('builds every rule from JSON', () => {
    const decls = JSON.parse(`[
      { "rule": "dedup", "by": "brand" },
      { "rule": "filter_unavailable" },
      { "rule": "filter_purchased" },
      { "rule": "filter_rating", "min": 3 },
      { "rule": "filter", "remove": { "attr": "id", "op": "eq", "value": "i1" } },
      { "rule": "diversity", "maxPerCategory": 2, "topK": 10 },
      { "rule": "mmr", "lambda": 0.7 },
      { "rule": "boost", "where": { "attr": "provider", "op": "eq", "value": "small" }, "add": 0.1 },
      { "rule": "bury", "where": { "attr": "age_days", "op": "gt", "value": 10 } },
      { "rule": "freshness", "halfLifeHours": 72, "floor": 0.2 },
      { "rule": "fairness", "by": "provider", "minShare": 0.2 },
      { "rule": "pin", "name": "editorial", "items": [{ "id": "i7", "position": 0 }] }
    ]`);
    const rules = buildRules(decls, deps);
    assert.deepEqual(rules.map((r) => r.name), ['dedup', 'filter_unavailable', 'filter_purchased', 'filter_rating', 'filter', 'diversity', 'mmr', 'boost', 'bury', 'freshness', 'fairness', 'editorial']);
    let l = list([0, 1, 2, 3, 4, 5, 6, 8, 9]);
    for (const r of rules) l = r.apply(ctx({ k: 5 }), l);
    assert.equal(l[0].item, 7);
    assert.ok(!ids(l).includes(1) && !ids(l).includes(3));
  });
});
