/**
 * Co-occurrence and PMI against hand-computed values.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cooccurrence } from '../../src/math/cooccurrence.js';
import { pmi, pmiMarginals } from '../../src/math/pmi.js';
import { csrFromPairs, csrToDense, isCanonicalCsr, type CsrMatrix } from '../../src/math/sparse.js';
import { timelinesFromArrays } from '../../src/models/retrieval/types.js';
import { Rng } from '../../src/math/rng.js';

// Timelines (oldest first): u0: 0 1 2 | u1: 1 2 1 3 | u2: 0 3. Item 4 never occurs.
const t = timelinesFromArrays({
  userIdx: [0, 0, 0, 1, 1, 1, 1, 2, 2],
  itemIdx: [0, 1, 2, 1, 2, 1, 3, 0, 3],
  numItems: 5,
});

const dense = (m: CsrMatrix) => {
  const d = csrToDense(m);
  return Array.from({ length: m.rows }, (_, r) => Array.from(d.subarray(r * m.cols, (r + 1) * m.cols)));
};

describe('cooccurrence', () => {
  it('whole timeline, binary (users holding both items)', () => {
    // Distinct items: u0 {0,1,2}, u1 {1,2,3}, u2 {0,3}.
    // C01 = 1 (u0), C02 = 1 (u0), C03 = 1 (u2), C12 = 2 (u0, u1), C13 = 1 (u1), C23 = 1 (u1).
    const c = cooccurrence(t);
    assert.deepEqual(dense(c), [
      [0, 1, 1, 1, 0],
      [1, 0, 2, 1, 0],
      [1, 2, 0, 1, 0],
      [1, 1, 1, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
    assert.ok(isCanonicalCsr(c));
  });

  it('whole timeline with multiplicities', () => {
    // u1 holds item 1 twice: C12 = 1 (u0) + 2·1 (u1) = 3, C13 = 2·1 = 2; the rest as binary.
    assert.deepEqual(dense(cooccurrence(t, { binary: false })), [
      [0, 1, 1, 1, 0],
      [1, 0, 3, 2, 0],
      [1, 3, 0, 1, 0],
      [1, 2, 1, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
  });

  it('sliding windows', () => {
    // w = 1, adjacent events: u0 (0,1) (1,2); u1 (1,2) (2,1) (1,3); u2 (0,3).
    // C01 = 1, C12 = 3, C13 = 1, C03 = 1, C02 = C23 = 0.
    assert.deepEqual(dense(cooccurrence(t, { window: 1 })), [
      [0, 1, 0, 1, 0],
      [1, 0, 3, 1, 0],
      [0, 3, 0, 0, 0],
      [1, 1, 0, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
    // w = 2 adds distance-2 pairs: u0 (0,2); u1 (1,1) (diagonal, dropped) and (2,3).
    assert.deepEqual(dense(cooccurrence(t, { window: 2 })), [
      [0, 1, 1, 1, 0],
      [1, 0, 3, 1, 0],
      [1, 3, 0, 1, 0],
      [1, 1, 1, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
  });

  it('minCount and maxPerRow bound the output and keep it symmetric', () => {
    assert.deepEqual(dense(cooccurrence(t, { minCount: 2 }))[1], [0, 0, 2, 0, 0]);
    // maxPerRow 1: row 0 keeps its largest count, ties to the smaller column (1); row 3 keeps
    // item 0; symmetrised by union.
    const m = dense(cooccurrence(t, { maxPerRow: 1 }));
    assert.deepEqual(m, [
      [0, 1, 0, 1, 0],
      [1, 0, 2, 0, 0],
      [0, 2, 0, 0, 0],
      [1, 0, 0, 0, 0],
      [0, 0, 0, 0, 0],
    ]);
  });

  it('agrees with a brute-force count on random timelines', () => {
    const rng = new Rng(8);
    const users: number[] = [];
    const items: number[] = [];
    for (let u = 0; u < 60; u++) for (let k = rng.nextInt(12); k >= 0; k--) { users.push(u); items.push(rng.nextInt(25)); }
    const tl = timelinesFromArrays({ userIdx: users, itemIdx: items, numItems: 25 });
    for (const w of [0, 3]) {
      const ref = Array.from({ length: 25 }, () => new Array<number>(25).fill(0));
      for (let u = 0; u < tl.numUsers; u++) {
        const seq = Array.from(tl.items.subarray(tl.indptr[u], tl.indptr[u + 1]));
        if (w === 0) {
          const set = [...new Set(seq)];
          for (const a of set) for (const b of set) if (a !== b) ref[a][b]++;
        } else {
          for (let p = 0; p < seq.length; p++) for (let q = 0; q < seq.length; q++) if (p !== q && Math.abs(p - q) <= w && seq[p] !== seq[q]) ref[seq[p]][seq[q]]++;
        }
      }
      assert.deepEqual(dense(cooccurrence(tl, { window: w })), ref, `window ${w}`);
    }
  });

  it('rejects bad options', () => {
    assert.throws(() => cooccurrence(t, { window: -1 }), /window/);
    assert.throws(() => cooccurrence(t, { minCount: 0 }), /minCount/);
    assert.throws(() => cooccurrence(t, { maxPerRow: 0 }), /maxPerRow/);
  });
});

describe('pmi', () => {
  // Symmetric counts C = [[0, 10, 1], [10, 0, 2], [1, 2, 0]]: marginals r = c = (11, 12, 3).
  const c = csrFromPairs(3, 3, [0, 0, 1, 1, 2, 2], [1, 2, 0, 2, 0, 1], [10, 1, 10, 2, 1, 2]);
  const close = (m: CsrMatrix, expected: number[][]) => {
    const d = dense(m);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(d[i][j] - expected[i][j]) < 1e-5, `(${i},${j}) ${d[i][j]} != ${expected[i][j]}`);
  };

  it('marginals', () => {
    const m = pmiMarginals(c, 1);
    assert.deepEqual(Array.from(m.rows), [11, 12, 3]);
    assert.ok(Math.abs(m.logZ - Math.log(26)) < 1e-12);
  });

  it('plain PMI (α = 1): log(C_ij · D / (r_i · r_j)), D = 26', () => {
    // PMI_01 = log(10·26 / (11·12)) = log(1.969697) =  0.677880
    // PMI_02 = log( 1·26 / (11·3))  = log(0.787879) = -0.238411
    // PMI_12 = log( 2·26 / (12·3))  = log(1.444444) =  0.367725
    close(pmi(c, { alpha: 1, variant: 'pmi' }), [
      [0, 0.67788, -0.238411],
      [0.67788, 0, 0.367725],
      [-0.238411, 0.367725, 0],
    ]);
    // Positive PMI drops PMI_02; the pattern shrinks.
    const pp = pmi(c, { alpha: 1 });
    close(pp, [
      [0, 0.67788, 0],
      [0.67788, 0, 0.367725],
      [0, 0.367725, 0],
    ]);
    assert.equal(pp.indptr[3], 4);
  });

  it('context smoothing α = 0.75: log C_ij − log r_i − 0.75·log r_j + log Σ r^0.75', () => {
    // Σ r^0.75 = 11^0.75 + 12^0.75 + 3^0.75 = 6.040129 + 6.447420 + 2.279507 = 14.767032,
    // log = 2.692397. E.g. PMI_01 = log 10 − log 11 − 0.75 log 12 + 2.692397
    //                             = 2.302585 − 2.397895 − 1.863680 + 2.692397 = 0.733407.
    // Not symmetric: PMI_10 = log 10 − log 12 − 0.75 log 11 + 2.692397 = 0.711654.
    const expected = [
      [0, 0.733407, -0.529457],
      [0.711654, 0, 0.076678],
      [-0.204637, 0.423252, 0],
    ];
    close(pmi(c, { variant: 'pmi' }), expected);
    close(pmi(c), expected.map((row) => row.map((v) => Math.max(0, v))));
    // Shifted PPMI with k = 2: subtract log 2 = 0.693147; only PMI_01 (0.040260) and
    // PMI_10 (0.018507) stay positive.
    close(pmi(c, { variant: 'sppmi', shift: 2 }), [
      [0, 0.04026, 0],
      [0.018507, 0, 0],
      [0, 0, 0],
    ]);
  });

  it('composes with co-occurrence (hand example above, α = 1)', () => {
    // Binary counts of the timelines: r = (3, 4, 4, 3, 0), D = 14.
    // PMI_03 = log(1·14 / (3·3)) = 0.441833, PMI_12 = log(2·14 / (4·4)) = 0.559616,
    // PMI_01 = log(14/12) = 0.154151.
    const m = dense(pmi(cooccurrence(t), { alpha: 1 }));
    assert.ok(Math.abs(m[0][3] - 0.441833) < 1e-5);
    assert.ok(Math.abs(m[1][2] - 0.559616) < 1e-5);
    assert.ok(Math.abs(m[0][1] - 0.154151) < 1e-5);
    assert.deepEqual(m[4], [0, 0, 0, 0, 0]);
  });

  it('rejects bad options and negative counts', () => {
    assert.throws(() => pmi(c, { alpha: 0 }), /alpha/);
    assert.throws(() => pmi(c, { variant: 'x' as 'pmi' }), /variant/);
    assert.throws(() => pmi(c, { variant: 'sppmi', shift: 0.5 }), /shift/);
    assert.throws(() => pmi(csrFromPairs(1, 2, [0], [1], [-1])), /counts must be >= 0/);
  });
});

describe('pmiWithTranspose', () => {
  it('equals the transpose of pmi, for every variant', async () => {
    const { pmiWithTranspose } = await import('../../src/math/pmi.js');
    const { transposeCsr } = await import('../../src/math/sparse.js');
    const rng = new Rng(31);
    const users: number[] = [];
    const items: number[] = [];
    for (let u = 0; u < 80; u++) for (let k = 2 + rng.nextInt(8); k >= 0; k--) { users.push(u); items.push(rng.nextInt(30)); }
    const counts = cooccurrence(timelinesFromArrays({ userIdx: users, itemIdx: items, numItems: 30 }));
    for (const opts of [{}, { variant: 'pmi' as const }, { variant: 'sppmi' as const, shift: 2 }, { alpha: 1 }]) {
      const { pmi: a, transpose: at } = pmiWithTranspose(counts, opts);
      assert.deepEqual(a, pmi(counts, opts));
      const ref = transposeCsr(a);
      assert.deepEqual(Array.from(at.indptr), Array.from(ref.indptr));
      assert.deepEqual(Array.from(at.indices), Array.from(ref.indices));
      for (let p = 0; p < ref.values.length; p++) assert.ok(Math.abs(at.values[p] - ref.values[p]) < 1e-6);
    }
    assert.throws(() => pmiWithTranspose(csrFromPairs(2, 2, [0], [1], [1])), /not symmetric/);
  });
});
