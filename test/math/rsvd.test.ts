import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rsvd } from '../../src/math/rsvd.js';
import { householderQr } from '../../src/math/linalg.js';
import { csrFromDense, csrFromPairs } from '../../src/math/sparse.js';
import { kernelInfo, selectKernels } from '../../src/math/kernels/index.js';
import { Rng } from '../../src/math/rng.js';

const rng = new Rng(5);
/** An n×k matrix with orthonormal columns (Float64). */
const orthonormal = (n: number, k: number) => householderQr(rng.fillNormal(new Float64Array(n * k)), n, k).q;

/** Dense m×n = U·diag(s)·Vᵀ. */
function lowRank(m: number, n: number, s: number[], u = orthonormal(m, s.length), v = orthonormal(n, s.length)) {
  const k = s.length;
  const a = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let x = 0;
      for (let t = 0; t < k; t++) x += u[i * k + t] * s[t] * v[j * k + t];
      a[i * n + j] = x;
    }
  }
  return { a, u, v };
}

describe('randomized SVD', () => {
  const sv = [100, 70, 50, 35, 25, 18, 12, 8, 5, 2];
  const [m, n] = [500, 400];
  const { a, u: trueU, v: trueV } = lowRank(m, n, sv);
  const csr = csrFromDense(a, m, n);

  it('recovers the singular values and vectors of a rank-10 500×400 matrix', () => {
    const r = rsvd(csr, { rank: 10, computeV: true, seed: 3 });
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(r.s[j] - sv[j]) <= 1e-3 * sv[j], `σ${j} = ${r.s[j]}, expected ${sv[j]}`);
    // Each singular vector matches the true one up to sign.
    for (let j = 0; j < 10; j++) {
      let du = 0;
      let dv = 0;
      for (let i = 0; i < m; i++) du += r.u[i * 10 + j] * trueU[i * 10 + j];
      for (let i = 0; i < n; i++) dv += r.v![i * 10 + j] * trueV[i * 10 + j];
      assert.ok(Math.abs(Math.abs(du) - 1) < 1e-4 && Math.abs(Math.abs(dv) - 1) < 1e-4, `vector ${j}: ${du} ${dv}`);
      assert.ok(du * dv > 0, 'u and v signs agree');
    }
    // Asking for more than the rank: the extra values are ~0.
    const r15 = rsvd(csr, { rank: 15 });
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(r15.s[j] - sv[j]) <= 1e-3 * sv[j]);
    for (let j = 10; j < 15; j++) assert.ok(r15.s[j] < 1e-3);
  });

  it('is reproducible from the seed, and the transpose modes agree', () => {
    const x = rsvd(csr, { rank: 5, seed: 9 });
    const y = rsvd(csr, { rank: 5, seed: 9 });
    assert.deepEqual(x.u, y.u);
    assert.deepEqual(x.s, y.s);
    const z = rsvd(csr, { rank: 5, seed: 9, transpose: 'mmcsr' });
    for (let j = 0; j < 5; j++) assert.ok(Math.abs(z.s[j] - x.s[j]) < 1e-4 * x.s[j]);
  });

  it('handles a symmetric matrix without a transpose', () => {
    // A = W·diag(9, 4, −3, 1)·Wᵀ: singular values 9, 4, 3, 1.
    const w = orthonormal(120, 4);
    const d = [9, 4, -3, 1];
    const sym = new Float64Array(120 * 120);
    for (let i = 0; i < 120; i++) for (let j = 0; j < 120; j++) {
      let x = 0;
      for (let t = 0; t < 4; t++) x += w[i * 4 + t] * d[t] * w[j * 4 + t];
      sym[i * 120 + j] = x;
    }
    const r = rsvd(csrFromDense(sym, 120, 120), { rank: 4, symmetric: true });
    const want = [9, 4, 3, 1];
    for (let j = 0; j < 4; j++) assert.ok(Math.abs(r.s[j] - want[j]) <= 1e-3 * want[j], `${r.s[j]}`);
  });

  it('approximates a full-rank sparse matrix with a decaying spectrum', () => {
    // Low rank plus small sparse noise: the leading values stay within the noise norm.
    const { a: b } = lowRank(300, 200, [50, 30, 20, 10, 5], orthonormal(300, 5), orthonormal(200, 5));
    const rows: number[] = [];
    const cols: number[] = [];
    const vals: number[] = [];
    for (let i = 0; i < 300; i++) for (let j = 0; j < 200; j++) {
      rows.push(i);
      cols.push(j);
      vals.push(b[i * 200 + j] + (rng.nextFloat() < 0.05 ? 0.01 * rng.normal() : 0));
    }
    const r = rsvd(csrFromPairs(300, 200, rows, cols, vals), { rank: 5, powerIterations: 2 });
    [50, 30, 20, 10, 5].forEach((s, j) => assert.ok(Math.abs(r.s[j] - s) < 0.05, `${r.s[j]} vs ${s}`));
  });

  it('works on the TypeScript kernels too', () => {
    const before = kernelInfo().active;
    after(() => selectKernels(before));
    selectKernels('ts');
    const r = rsvd(csr, { rank: 10 });
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(r.s[j] - sv[j]) <= 1e-3 * sv[j]);
  });

  it('rejects bad options', () => {
    assert.throws(() => rsvd(csr, { rank: 0 }), /rank must be/);
    assert.throws(() => rsvd(csr, { rank: 401 }), /rank must be/);
    assert.throws(() => rsvd(csr, { rank: 5, oversample: -1 }), /oversample/);
    assert.throws(() => rsvd(csr, { rank: 5, powerIterations: 1.5 }), /powerIterations/);
    assert.throws(() => rsvd(csr, { rank: 5, symmetric: true }), /square/);
  });
});
