import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  colSums, cooFromCsr, csrFromPairs, csrFromTimelines, csrGet, csrToDense, isCanonicalCsr, normalizeRows, rowSums,
  scaleCols, transposeCsr, validateCsr,
} from '../../src/math/sparse.js';
import { timelinesFromArrays } from '../../src/models/retrieval/types.js';

describe('CSR from pairs', () => {
  it('sums duplicates and sorts columns', () => {
    // (0,2)=1+2, (0,0)=5, (2,1)=4, (2,1) again +1, row 1 empty.
    const m = csrFromPairs(3, 3, [0, 2, 0, 0, 2], [2, 1, 0, 2, 1], [1, 4, 5, 2, 1]);
    assert.deepEqual(Array.from(m.indptr), [0, 2, 2, 3]);
    assert.deepEqual(Array.from(m.indices), [0, 2, 1]);
    assert.deepEqual(Array.from(m.values), [5, 3, 5]);
    assert.ok(isCanonicalCsr(m));
    validateCsr(m, 'm', true);
    // Without values: occurrence counts; binary: 1s.
    const c = csrFromPairs(2, 2, [1, 1, 0], [0, 0, 1]);
    assert.deepEqual(Array.from(csrToDense(c)), [0, 1, 2, 0]);
    const b = csrFromPairs(2, 2, [1, 1, 0], [0, 0, 1], undefined, { binary: true });
    assert.deepEqual(Array.from(csrToDense(b)), [0, 1, 1, 0]);
  });

  it('transposes, sums, scales and normalises', () => {
    const m = csrFromPairs(2, 3, [0, 0, 1], [0, 2, 1], [3, 4, 2]);
    const t = transposeCsr(m);
    assert.deepEqual([t.rows, t.cols], [3, 2]);
    assert.deepEqual(Array.from(csrToDense(t)), [3, 0, 0, 2, 4, 0]);
    assert.deepEqual(Array.from(rowSums(m)), [7, 2]);
    assert.deepEqual(Array.from(colSums(m)), [3, 2, 4]);
    assert.deepEqual(Array.from(normalizeRows(csrFromPairs(2, 3, [0, 0, 1], [0, 2, 1], [3, 4, 2]), 'l2').values).map((v) => +v.toFixed(6)), [0.6, 0.8, 1]);
    assert.deepEqual(Array.from(normalizeRows(csrFromPairs(2, 3, [0, 0, 1], [0, 2, 1], [3, 4, 2]), 'l1').values).map((v) => +v.toFixed(6)), [0.428571, 0.571429, 1]);
    assert.deepEqual(Array.from(scaleCols(csrFromPairs(2, 3, [0, 0, 1], [0, 2, 1], [3, 4, 2]), [1, 10, 0.5]).values), [3, 2, 20]);
    assert.equal(csrGet(m, 0, 2), 4);
    assert.equal(csrGet(m, 1, 0), 0);
    const coo = cooFromCsr(m);
    assert.deepEqual([Array.from(coo.row), Array.from(coo.col)], [[0, 0, 1], [0, 2, 1]]);
  });

  it('builds the user × item matrix of timelines', () => {
    const t = timelinesFromArrays({ userIdx: [0, 0, 0, 1], itemIdx: [2, 0, 2, 1], numItems: 3 });
    assert.deepEqual(Array.from(csrToDense(csrFromTimelines(t))), [1, 0, 2, 0, 1, 0]);
    assert.deepEqual(Array.from(csrToDense(csrFromTimelines(t, true))), [1, 0, 1, 0, 1, 0]);
  });

  it('rejects bad input with RangeErrors naming the argument', () => {
    assert.throws(() => csrFromPairs(2, 2, [0, 2], [0, 0]), /rowIdx\[1\] = 2/);
    assert.throws(() => csrFromPairs(2, 2, [0], [0, 1]), /colIdx has 2/);
    assert.throws(() => csrFromPairs(-1, 2, [], []), /rows/);
    assert.throws(() => validateCsr({ rows: 1, cols: 2, indptr: Int32Array.of(0, 1), indices: Int32Array.of(5), values: Float32Array.of(1) }), /indices\[0\] = 5/);
    assert.throws(() => normalizeRows(csrFromPairs(1, 1, [0], [0]), 'l3' as 'l1'), /norm/);
  });
});
