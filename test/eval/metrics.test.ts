import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  auc, averagePrecisionAtK, catalogCoverage, clickRank, dcgAtK, hitRateAtK, mean, meanPopularity, ndcgAtK, precisionAtK,
  recallAtK, reciprocalRankAtK, reciprocalRankFromScores, standardError,
} from '../../src/eval/metrics.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

// A ranked list of 5 items; the target has 3 items, two of which are at positions 2 and 5.
const ranked = [5, 3, 8, 1, 9];
const target = new Set([3, 9, 7]);
const empty = new Set<number>();

describe('list metrics on a hand-made list', () => {
  it('Recall@k divides by min(k, |target|)', () => {
    assert.equal(recallAtK(ranked, target, 1), 0);
    assert.equal(recallAtK(ranked, target, 2), 1 / 2); // 1 hit / min(2, 3)
    assert.equal(recallAtK(ranked, target, 5), 2 / 3);
    assert.equal(recallAtK(ranked, target, 10), 2 / 3); // k beyond the list: still min(10, 3)
    assert.equal(recallAtK([3], new Set([3]), 20), 1);
  });

  it('Precision@k divides by k, even past the end of the list', () => {
    assert.equal(precisionAtK(ranked, target, 1), 0);
    assert.equal(precisionAtK(ranked, target, 2), 1 / 2);
    assert.equal(precisionAtK(ranked, target, 5), 2 / 5);
    assert.equal(precisionAtK(ranked, target, 10), 2 / 10);
    assert.equal(precisionAtK([3], new Set([3]), 20), 1 / 20);
  });

  it('NDCG@k is normalised by the ideal DCG of min(k, |target|) hits', () => {
    // DCG@5 = 1/log2(3) + 1/log2(6); IDCG@5 = 1 + 1/log2(3) + 1/log2(4).
    close(dcgAtK(ranked, target, 5), 1 / Math.log2(3) + 1 / Math.log2(6));
    close(ndcgAtK(ranked, target, 5), 0.4776237035032179);
    // NDCG@2: DCG = 1/log2(3), IDCG = 1 + 1/log2(3).
    close(ndcgAtK(ranked, target, 2), 0.38685280723454163);
    assert.equal(ndcgAtK(ranked, target, 1), 0);
    close(ndcgAtK(ranked, target, 100), 0.4776237035032179); // k > list length
    assert.equal(ndcgAtK([3], new Set([3]), 20), 1); // a perfect short list
    assert.equal(ndcgAtK([3, 9, 7], target, 3), 1);
  });

  it('AP@k averages precision at the hits over min(k, |target|)', () => {
    assert.equal(averagePrecisionAtK(ranked, target, 5), (1 / 2 + 2 / 5) / 3);
    assert.equal(averagePrecisionAtK(ranked, target, 2), 1 / 2 / 2);
    assert.equal(averagePrecisionAtK(ranked, target, 10), (1 / 2 + 2 / 5) / 3);
    assert.equal(averagePrecisionAtK([3, 9, 7], target, 3), 1);
  });

  it('HitRate@k and MRR', () => {
    assert.equal(hitRateAtK(ranked, target, 1), 0);
    assert.equal(hitRateAtK(ranked, target, 2), 1);
    assert.equal(hitRateAtK(ranked, target, 50), 1);
    assert.equal(reciprocalRankAtK(ranked, target), 1 / 2);
    assert.equal(reciprocalRankAtK(ranked, target, 1), 0);
    assert.equal(reciprocalRankAtK([1, 2], new Set([7]), 10), 0);
  });

  it('an empty target gives NaN (user skipped), an empty list gives 0', () => {
    for (const f of [recallAtK, precisionAtK, ndcgAtK, averagePrecisionAtK, hitRateAtK, reciprocalRankAtK]) {
      assert.ok(Number.isNaN(f(ranked, empty, 5)), f.name);
      assert.equal(f([], target, 5), 0, f.name);
    }
  });

  it('rejects k < 1', () => {
    assert.throws(() => recallAtK(ranked, target, 0), /k must be >= 1/);
  });
});

describe('full-score metrics with ties', () => {
  // Items 0..4; targets 1 and 3. Item 1 ties with the non-targets 2 and 4.
  const scores = [0.9, 0.5, 0.5, 0.1, 0.5];
  const tgt = new Set([1, 3]);

  it('AUC counts ties as half', () => {
    // Pairs (pos, neg): 1 vs {0,2,4} -> 0 + .5 + .5; 3 vs {0,2,4} -> 0. Total 1 / 6.
    close(auc(scores, tgt), 1 / 6);
    const blocked = Uint8Array.from([1, 0, 0, 0, 0]); // drop item 0 from the candidates
    close(auc(scores, tgt, blocked), 1 / 4);
    assert.equal(auc([3, 2, 1, 0], new Set([0, 1])), 1);
    assert.equal(auc([0, 1, 2, 3], new Set([0, 1])), 0);
    assert.equal(auc([1, 1, 1, 1], new Set([2])), 0.5);
    assert.equal(auc([-Infinity, -Infinity, 1], new Set([0])), 0.25); // -Infinity ties with -Infinity
    assert.ok(Number.isNaN(auc(scores, empty)));
    assert.ok(Number.isNaN(auc([1, 2], new Set([0, 1])))); // no negatives
  });

  it('reciprocal rank from scores uses mid-ranks for ties', () => {
    // Best target score 0.5: one item above, two other items tied -> rank 1 + 1 + 2/2 = 3.
    close(reciprocalRankFromScores(scores, tgt), 1 / 3);
    close(reciprocalRankFromScores(scores, tgt, Uint8Array.from([1, 0, 0, 0, 0])), 1 / 2);
    assert.equal(reciprocalRankFromScores([0.1, 0.9], new Set([1])), 1);
    assert.ok(Number.isNaN(reciprocalRankFromScores(scores, empty)));
  });

  it('click-rank: 0 best, 1 worst, 0.5 for ties everywhere (LED §6.2)', () => {
    const banner = [0.2, 0.9, 0.5, 0.5];
    assert.equal(clickRank(banner, 1), 0);
    assert.equal(clickRank(banner, 0), 1);
    assert.equal(clickRank(banner, 2), (1 + 1 / 2) / 3);
    assert.equal(clickRank([7, 7, 7, 7], 0), 0.5);
    assert.equal(clickRank(banner, [1, 2]), (0 + 0.5) / 2);
    assert.ok(Number.isNaN(clickRank([1], 0)));
    assert.throws(() => clickRank(banner, 4), /out of range/);
  });
});

describe('aggregate metrics', () => {
  const lists = [[0, 1, 2], [1, 2, 3]];
  it('catalog coverage', () => {
    assert.equal(catalogCoverage(lists, 10), 4 / 10);
    assert.equal(catalogCoverage(lists, 10, 1), 2 / 10);
    assert.equal(catalogCoverage([], 10), 0);
  });
  it('mean popularity of the recommended items', () => {
    const pop = [10, 20, 30, 40, 50];
    assert.equal(meanPopularity(lists, pop), (10 + 20 + 30 + 20 + 30 + 40) / 6);
    assert.equal(meanPopularity(lists, pop, 1), (10 + 20) / 2);
    assert.ok(Number.isNaN(meanPopularity([], pop)));
  });
  it('mean skips NaN; standard error', () => {
    assert.equal(mean([1, NaN, 3]), 2);
    assert.ok(Number.isNaN(mean([NaN])));
    close(standardError([1, 2, 3]), 1 / Math.sqrt(3));
    assert.ok(Number.isNaN(standardError([1])));
  });
});
