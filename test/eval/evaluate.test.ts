import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate } from '../../src/eval/evaluate.js';
import type { HeldOut } from '../../src/eval/protocols.js';
import { formatTable, reportJson, type ReportRow } from '../../src/eval/report.js';
import {
  recommendFromScores, type FitReport, type RetrievalModel, type Timelines,
} from '../../src/models/retrieval/types.js';
import { datasetsDir, hasDataset, loadMovieLens, parseMoviesCsv, parseRatingsCsv, parseU100kData, parseU100kItems, ratingsToDataset } from '../../src/eval/datasets.js';

/** A model scoring item i by a fixed table, whatever the history. */
class FixedModel implements RetrievalModel {
  readonly kind = 'fixed';
  readonly name = 'fixed';
  constructor(private readonly s: Float32Array) {}
  get numItems() { return this.s.length; }
  async fit(): Promise<FitReport> { throw new Error('not used'); }
  async save() {}
  score(_h: Int32Array, items?: Int32Array) { return items ? Float32Array.from(items, (i) => this.s[i]) : this.s.slice(); }
  encodeUser() { return undefined; }
  recommend(h: Int32Array, k: number, ex?: Int32Array) { return recommendFromScores(this, h, k, ex); }
  similarItems() { return { items: new Int32Array(0), scores: new Float32Array(0) }; }
}

function csr(rowsList: number[][], numItems: number): Timelines {
  const indptr = new Int32Array(rowsList.length + 1);
  rowsList.forEach((r, q) => (indptr[q + 1] = indptr[q] + r.length));
  return { numUsers: rowsList.length, numItems, indptr, items: Int32Array.from(rowsList.flat()) };
}

describe('evaluate', () => {
  // Items 0..5 scored 6,5,4,3,2,1: the model's ranking is 0,1,2,3,4,5 minus the fold-in.
  const model = new FixedModel(Float32Array.of(6, 5, 4, 3, 2, 1)) as RetrievalModel<never>;
  const held: HeldOut = {
    users: Int32Array.of(10, 11, 12),
    foldIn: csr([[0], [1, 2], [3]], 6),
    target: csr([[2, 5], [0], []], 6), // user 12 has no target: skipped
  };

  it('averages list metrics over users with a target, history excluded', async () => {
    const r = await evaluate(model, held, { metrics: ['recall@1', 'recall@2', 'ndcg@2', 'precision@2', 'hit@1', 'mrr@5', 'coverage@2', 'popularity@1'], popularity: [1, 2, 3, 4, 5, 6] });
    // user 10: list 1,2,3,4,5 vs {2,5}; user 11: list 0,3,4,5 vs {0}.
    assert.equal(r.users, 2);
    assert.equal(r.skipped, 1);
    assert.equal(r.metrics['recall@1'], (0 + 1) / 2);
    assert.equal(r.metrics['recall@2'], (1 / 2 + 1) / 2);
    const ndcgU10 = (1 / Math.log2(3)) / (1 + 1 / Math.log2(3));
    assert.ok(Math.abs(r.metrics['ndcg@2'] - (ndcgU10 + 1) / 2) < 1e-12);
    assert.equal(r.metrics['precision@2'], (1 / 2 + 1 / 2) / 2);
    assert.equal(r.metrics['hit@1'], 1 / 2);
    assert.equal(r.metrics['mrr@5'], (1 / 2 + 1) / 2);
    assert.equal(r.metrics['coverage@2'], 4 / 6); // {1,2} ∪ {0,3}
    assert.equal(r.metrics['popularity@1'], (2 + 1) / 2);
  });

  it('computes full-score metrics (AUC, MRR, click-rank) over the non-history items', async () => {
    const r = await evaluate(model, held, { metrics: ['auc', 'mrr', 'click_rank', 'recall@2'] });
    // user 10: candidates 1..5, targets 2 (2nd; beats 3 and 4) and 5 (last): AUC = (2 + 0) / 6;
    // user 11: target 0 first: AUC 1.
    assert.equal(r.metrics.auc, (2 / 6 + 1) / 2);
    assert.equal(r.metrics.mrr, (1 / 2 + 1) / 2);
    // click-rank: user 10 -> mean(1/4, 4/4); user 11 -> 0.
    assert.equal(r.metrics.click_rank, ((1 / 4 + 1) / 2 + 0) / 2);
    assert.equal(r.metrics['recall@2'], (1 / 2 + 1) / 2);
  });

  it('ranks sampled candidates when the held-out set has them', async () => {
    const h: HeldOut = { ...held, candidates: csr([[5, 4, 2], [0, 3], [1]], 6) };
    const r = await evaluate(model, h, { metrics: ['hit@1', 'ndcg@3', 'auc', 'click_rank'] });
    // user 10: candidates ranked 2,4,5 vs {2,5}: hit@1 = 1; user 11: 0,3 vs {0}: hit@1 = 1.
    assert.equal(r.metrics['hit@1'], 1);
    const dcg = 1 + 1 / Math.log2(4);
    assert.ok(Math.abs(r.metrics['ndcg@3'] - (dcg / (1 + 1 / Math.log2(3)) + 1) / 2) < 1e-12);
    assert.equal(r.metrics.auc, (1 / 2 + 1) / 2);
  });

  it('rejects unknown metrics and popularity without a table', async () => {
    await assert.rejects(evaluate(model, held, { metrics: ['foo@3'] }), /unknown metric/);
    await assert.rejects(evaluate(model, held, { metrics: ['popularity@3'] }), /needs opts.popularity/);
  });
});

describe('report', () => {
  const rows: ReportRow[] = [
    { model: 'EASE', loss: '', init: '', tuning: '', recall_at_20: 0.4, recall_at_50: 0.5, ndcg_at_100: 0.45, fit_seconds: 1.234 },
    { model: 'LED', loss: 'BPR', init: 'SVD', tuning: 'Proj', recall_at_20: 0.38, recall_at_50: NaN, ndcg_at_100: 0.4, fit_seconds: 10 },
  ];
  it('formats the Table 2 layout', () => {
    const t = formatTable(rows, { title: 'T', relativeTo: 0 });
    const lines = t.split('\n');
    assert.equal(lines[0], 'T');
    assert.match(lines[1], /^Model\s+Loss\s+Init\s+Tuning\s+Recall@20\s+Recall@50\s+NDCG@100\s+Fit s$/);
    assert.match(lines[3], /^EASE\s+0\.400\s+0\.500\s+0\.450\s+1\.23$/);
    assert.match(lines[4], /LED\s+BPR\s+SVD\s+Proj\s+0\.380 \(-5\.0%\)\s+-\s+0\.400 \(-11\.1%\)\s+10\.00$/);
    assert.match(formatTable(rows, { markdown: true }), /^\| Model \| Loss/);
    assert.deepEqual(reportJson('ml', rows).models, rows);
  });
});

describe('datasets', () => {
  it('parses u.data and ratings.csv into timelines with numeric-order ids', () => {
    const d = ratingsToDataset('x', parseU100kData('10\t7\t4\t100\n2\t7\t3\t50\n10\t3\t5\t90\n'));
    assert.deepEqual(d.userIds, ['2', '10']);
    assert.deepEqual(d.itemIds, ['3', '7']);
    assert.deepEqual(Array.from(d.timelines.items), [1, 0, 1]); // user 2: item 7; user 10: 3 (t=90) then 7 (t=100)
    assert.deepEqual(Array.from(d.timelines.timestamps!), [50_000, 90_000, 100_000]);
    assert.deepEqual(Array.from(d.timelines.values!), [3, 5, 4]);
    const c = parseRatingsCsv('userId,movieId,rating,timestamp\r\n1,31,2.5,1260759144\r\n1,1029,3.0,1260759179\r\n');
    assert.deepEqual(c.items, ['31', '1029']);
    assert.deepEqual(Array.from(c.ratings), [2.5, 3]);
    assert.throws(() => parseRatingsCsv('a,b\n'), /unexpected header/);
  });
  it('parses genres', () => {
    const m = parseMoviesCsv('movieId,title,genres\n1,"Toy Story, The (1995)",Adventure|Animation\n2,X,(no genres listed)\n');
    assert.deepEqual(m.get('1'), { title: 'Toy Story, The (1995)', genres: ['Adventure', 'Animation'] });
    assert.deepEqual(m.get('2')!.genres, []);
    const flags = '0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0';
    const u = parseU100kItems(`1|Toy Story (1995)|01-Jan-1995||http://x|${flags}\n`);
    assert.deepEqual(u.get('1')!.genres, ['Animation', "Children's"]);
  });
  it('loads ml-100k when the shared datasets are present', { skip: !hasDataset('ml-100k') && `no datasets in ${datasetsDir()}` }, async () => {
    const d = await loadMovieLens('ml-100k');
    assert.equal(d.timelines.numUsers, 943);
    assert.equal(d.timelines.numItems, 1682);
    assert.equal(d.timelines.indptr[943], 100_000);
    assert.equal(d.categoryNames!.length > 10, true);
  });
});
