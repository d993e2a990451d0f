import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { recommendationJson } from '../../src/serving/response-json.js';
import type { RecommendResponse } from '../../src/serving/service.js';

describe('recommendationJson', () => {
  it('writes exactly what JSON.stringify writes', () => {
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    // Ids that need escaping or are plain, scores of every kind JSON can and cannot represent.
    const odd = ['plain', 'with "quotes"', 'back\\slash', 'tab\tnew\nline', '\u0000nul', 'é ü 中文', 'emoji 😀', 'lone \ud800 surrogate', 'lone \udc00 low', '', '\u007f del', '\u2028 sep'];
    const scores = [0, -0, 1, -1.5, 0.1 + 0.2, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, Math.fround(1 / 61), NaN, Infinity, -Infinity, 123456789.125];
    const gens = ['led', 'itemknn', 'popular', 'fresh', 'a "quoted" generator', 'nul\u0000in', 'nul', 'in'];
    for (let t = 0; t < 300; t++) {
      const items = Array.from({ length: rnd(25) }, () => ({
        id: rnd(3) === 0 ? odd[rnd(odd.length)] : `i${rnd(1_000_000)}`,
        score: rnd(2) === 0 ? scores[rnd(scores.length)] : rnd(1_000_000) / 997,
        sources: Array.from({ length: 1 + rnd(3) }, () => gens[rnd(gens.length)]),
      }));
      const body: RecommendResponse = { requestId: t % 7 === 0 ? odd[t % odd.length] : `r-${t}`, scene: t % 5 === 0 ? 'scène "x"' : 'default', modelVersion: `v${t}`, items };
      assert.equal(recommendationJson(body), JSON.stringify(body), `case ${t}`);
    }
  });

  it('tells apart source lists whose names would join alike', () => {
    for (const sources of [['nul', 'in'], ['nul\u0000in'], ['nul', 'in']]) {
      const body: RecommendResponse = { requestId: 'r', scene: 's', modelVersion: 'v', items: [{ id: 'i1', score: 0.5, sources }] };
      assert.equal(recommendationJson(body), JSON.stringify(body));
    }
  });

  it('leaves bodies with debug details to JSON.stringify', () => {
    const body: RecommendResponse = {
      requestId: 'r', scene: 's', modelVersion: 'v',
      items: [{ id: 'i1', score: 1, sources: ['led'], debug: { sources: [{ generator: 'led', rank: 0, score: 1 }], trace: ['x'] } }],
    };
    assert.equal(recommendationJson(body), JSON.stringify(body));
    const withDebug = { ...body, items: [{ id: 'i1', score: 1, sources: ['led'] }], debug: { candidates: 3, historyLength: 0, timings: { generate_ms: 1, merge_ms: 0, score_ms: 0, rerank_ms: 0, total_ms: 1, history_ms: 0 } } };
    assert.equal(recommendationJson(withDebug), JSON.stringify(withDebug));
  });
});
