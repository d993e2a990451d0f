import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { auc, gauc, logLoss, meanClickRank } from '../../src/rank/metrics.js';
import { expectedClicks, rankFusion } from '../../src/rank/evaluate.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

describe('ranking metrics (hand-computed)', () => {
  it('AUC: pairs won, ties count one half', () => {
    close(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
    close(auc([0.5, 0.5, 0.2], [1, 0, 0]), 0.75);
    close(auc([NaN, 0.3], [1, 0]), 0, 1e-12);
    assert.ok(Number.isNaN(auc([0.1, 0.2], [1, 1])));
  });

  it('log-loss', () => {
    close(logLoss([0.8, 0.3], [1, 0]), (-Math.log(0.8) - Math.log(0.7)) / 2);
    close(logLoss([0.8, 0.3], [1, 0]), 0.2899092476264711, 1e-12);
    assert.ok(logLoss([0], [1]) < 17, 'clipped');
  });

  it('GAUC: per-user AUC weighted by impressions, users with one class skipped', () => {
    const g = gauc([0.9, 0.1, 0.5, 0.2, 0.6, 0.3], [1, 0, 0, 1, 0, 1], [7, 7, 7, 8, 8, 9]);
    close(g.gauc, (1 * 3 + 0 * 2) / 5);
    assert.equal(g.groups, 2);
  });

  it('click-rank of the clicked items in their impressed lists', () => {
    const r = meanClickRank([0.9, 0.1, 0.5, 0.2, 0.6, 0.3, 0.3, 0.3, 0.1], [1, 0, 0, 1, 0, 1, 0, 1, 0], [1, 1, 1, 2, 2, 3, 4, 4, 4]);
    close(r.clickRank, (0 + 1 + 0.25) / 3);
    assert.equal(r.lists, 3);
  });

  it('expected clicks of an order under a position model, ties averaged', () => {
    close(expectedClicks([1, 3, 2], [0.1, 0.5, 0.2], [1, 0.5, 0.25]), 0.5 + 0.1 + 0.025);
    close(expectedClicks([1, 1, 0], [0.4, 0.2, 0.1], [1, 0.5, 0.25]), 0.75 * 0.6 + 0.25 * 0.1);
    assert.throws(() => expectedClicks([1, 2], [0.1], [1, 1]), RangeError);
  });

  it('rank fusion of provenance', () => {
    close(rankFusion([{ generator: 'a', rank: 0, score: 1 }, { generator: 'b', rank: 2, score: 1 }]), 1 / 61 + 1 / 63);
    assert.equal(rankFusion(undefined), 0);
  });
});
