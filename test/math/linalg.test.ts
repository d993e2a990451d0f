import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  choleskyQr2, choleskyUpper, householderQr, invertUpper, matmul64, svdSmall, symmetricEigen, tallSkinnyQr,
} from '../../src/math/linalg.js';
import { Rng } from '../../src/math/rng.js';

/** max |QᵀQ − I| for an n×k row-major Q. */
function orthError(q: ArrayLike<number>, n: number, k: number): number {
  let e = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += q[i * k + a] * q[i * k + b];
      e = Math.max(e, Math.abs(s - (a === b ? 1 : 0)));
    }
  }
  return e;
}

/** max |A − Q·R| / max |A|. */
function qrError(a: ArrayLike<number>, q: ArrayLike<number>, r: ArrayLike<number>, n: number, k: number): number {
  let e = 0;
  let scale = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let p = 0; p <= j; p++) s += q[i * k + p] * r[p * k + j];
      e = Math.max(e, Math.abs(s - a[i * k + j]));
      scale = Math.max(scale, Math.abs(a[i * k + j]));
    }
  }
  return e / scale;
}

const rng = new Rng(77);
const randn = (len: number) => rng.fillNormal(new Float64Array(len));

describe('QR', () => {
  it('Householder: Q orthonormal, QR = A, R upper with a non-negative diagonal', () => {
    const [n, k] = [200, 17];
    const a = randn(n * k);
    const { q, r } = householderQr(a, n, k);
    assert.ok(orthError(q, n, k) < 1e-13);
    assert.ok(qrError(a, q, r, n, k) < 1e-13);
    for (let i = 0; i < k; i++) {
      assert.ok(r[i * k + i] >= 0);
      for (let j = 0; j < i; j++) assert.equal(r[i * k + j], 0);
    }
  });

  it('Householder stays orthonormal on rank-deficient and Float32 input', () => {
    const [n, k] = [60, 6];
    const a = randn(n * k);
    for (let i = 0; i < n; i++) {
      a[i * k + 3] = a[i * k + 1]; // duplicate column
      a[i * k + 5] = 0; // zero column
    }
    const { q, r } = householderQr(a, n, k);
    assert.ok(orthError(q, n, k) < 1e-13);
    assert.ok(qrError(a, q, r, n, k) < 1e-13);
    assert.ok(Math.abs(r[3 * k + 3]) < 1e-12 && r[5 * k + 5] === 0);
    const f = Float32Array.from(randn(n * k));
    const q32 = householderQr(f, n, k);
    assert.ok(q32.q instanceof Float32Array);
    assert.ok(orthError(q32.q, n, k) < 1e-6);
  });

  it('CholeskyQR2 through the kernels, with the Householder fallback', () => {
    const [n, k] = [500, 20];
    const y = Float32Array.from(randn(n * k));
    const c = choleskyQr2(y, n, k)!;
    assert.ok(c, 'well-conditioned input must succeed');
    assert.ok(orthError(c.q, n, k) < 1e-5);
    assert.ok(qrError(y, c.q, c.r, n, k) < 1e-5);
    for (let i = 0; i < n; i++) y[i * k + 7] = y[i * k + 2]; // rank-deficient
    assert.equal(choleskyQr2(y, n, k), null);
    const t = tallSkinnyQr(y, n, k);
    assert.equal(t.method, 'householder');
    assert.ok(orthError(t.q, n, k) < 1e-5);
    assert.throws(() => tallSkinnyQr(y, n, k, 'cholesky'), /CholeskyQR2 failed/);
    assert.throws(() => householderQr(new Float64Array(6), 2, 3), /rows >= cols/);
    assert.throws(() => householderQr(new Float64Array(5), 3, 2), /a has 5 entries/);
  });

  it('Cholesky and triangular inverse', () => {
    // G = [[4, 2], [2, 5]] = RᵀR with R = [[2, 1], [0, 2]].
    const r = choleskyUpper(Float64Array.of(4, 2, 2, 5), 2)!;
    assert.deepEqual(Array.from(r), [2, 1, 0, 2]);
    assert.deepEqual(Array.from(invertUpper(r, 2)), [0.5, -0.25, 0, 0.5]);
    assert.deepEqual(Array.from(matmul64(r, invertUpper(r, 2), 2, 2, 2)), [1, 0, 0, 1]);
    assert.equal(choleskyUpper(Float64Array.of(1, 1, 1, 1), 2), null);
  });
});

describe('small dense decompositions', () => {
  it('symmetric eigen: known answers', () => {
    // [[2, 1], [1, 2]]: eigenvalues 3 and 1, vectors (1, 1)/√2 and (1, −1)/√2.
    const e = symmetricEigen([2, 1, 1, 2], 2);
    assert.ok(Math.abs(e.values[0] - 3) < 1e-14 && Math.abs(e.values[1] - 1) < 1e-14);
    assert.ok(Math.abs(Math.abs(e.vectors[0]) - Math.SQRT1_2) < 1e-14);
    assert.ok(Math.abs(e.vectors[0] - e.vectors[2]) < 1e-14); // (x, x)
    // Tridiagonal [[4,1,0],[1,4,1],[0,1,4]]: 4 + √2, 4, 4 − √2.
    const t = symmetricEigen([4, 1, 0, 1, 4, 1, 0, 1, 4], 3);
    const want = [4 + Math.SQRT2, 4, 4 - Math.SQRT2];
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(t.values[i] - want[i]) < 1e-13, `${t.values[i]}`);
    assert.ok(orthError(t.vectors, 3, 3) < 1e-14);
    assert.throws(() => symmetricEigen([1, 2, 3, 4], 2), /not symmetric/);
  });

  it('SVD: the textbook example [[3, 2, 2], [2, 3, −2]] has σ = 5, 3', () => {
    const d = svdSmall([3, 2, 2, 2, 3, -2], 2, 3);
    assert.ok(Math.abs(d.s[0] - 5) < 1e-13 && Math.abs(d.s[1] - 3) < 1e-13);
    // v1 = ±(1, 1, 0)/√2, v2 = ±(1, −1, 4)/√18.
    const v = d.v; // 3×2
    assert.ok(Math.abs(Math.abs(v[0]) - Math.SQRT1_2) < 1e-13 && Math.abs(v[4]) < 1e-13);
    assert.ok(Math.abs(Math.abs(v[5]) - 4 / Math.sqrt(18)) < 1e-13);
    // u1 = ±(1, 1)/√2.
    assert.ok(Math.abs(Math.abs(d.u[0]) - Math.SQRT1_2) < 1e-13);
  });

  it('SVD: diagonal, rank-deficient and random matrices reconstruct', () => {
    const diag = svdSmall([0, -2, 3, 0, 0, 0], 3, 2); // columns: (0, 3, 0) and (−2, 0, 0)
    assert.deepEqual(Array.from(diag.s), [3, 2]);
    const ones = svdSmall([1, 1, 1, 1], 2, 2); // σ = 2, 0; U completed to an orthonormal basis
    assert.ok(Math.abs(ones.s[0] - 2) < 1e-14 && Math.abs(ones.s[1]) < 1e-14);
    assert.ok(orthError(ones.u, 2, 2) < 1e-14);
    for (const [m, n] of [[30, 12], [12, 30]]) {
      const a = randn(m * n);
      const { u, s, v } = svdSmall(a, m, n);
      const r = Math.min(m, n);
      assert.ok(orthError(u, m, r) < 1e-12 && orthError(v, n, r) < 1e-12);
      for (let j = 1; j < r; j++) assert.ok(s[j] <= s[j - 1]);
      let err = 0;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let x = 0;
          for (let p = 0; p < r; p++) x += u[i * r + p] * s[p] * v[j * r + p];
          err = Math.max(err, Math.abs(x - a[i * n + j]));
        }
      }
      assert.ok(err < 1e-12, `reconstruction ${err}`);
      // Singular values are the square roots of the eigenvalues of AᵀA / AAᵀ.
      const g = new Float64Array(r * r);
      const small = m < n ? m : n;
      for (let x = 0; x < small; x++) for (let y = 0; y < small; y++) {
        let acc = 0;
        if (m >= n) for (let i = 0; i < m; i++) acc += a[i * n + x] * a[i * n + y];
        else for (let j = 0; j < n; j++) acc += a[x * n + j] * a[y * n + j];
        g[x * r + y] = acc;
      }
      const e = symmetricEigen(g, r);
      for (let j = 0; j < r; j++) assert.ok(Math.abs(Math.sqrt(Math.max(0, e.values[j])) - s[j]) < 1e-10 * s[0]);
    }
  });
});
