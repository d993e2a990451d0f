import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cholesky, NotPositiveDefiniteError, spdInverse } from '../../../src/math/spd.js';
import { EaseModel } from '../../../src/models/retrieval/ease.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { SmallRng, timelinesFromArrays, type Timelines } from '../../../src/models/retrieval/types.js';

/** Reference: Gauss-Jordan inverse with partial pivoting, Float64. */
function gaussJordan(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const d = m[c][c];
    for (let j = 0; j < 2 * n; j++) m[c][j] /= d;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(n));
}

/** EASE B by the textbook formula, Float64. */
function easeReference(rowsList: number[][], n: number, lambda: number): number[][] {
  const G = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const r of rowsList) for (const i of r) for (const j of r) G[i][j] += 1;
  for (let i = 0; i < n; i++) G[i][i] += lambda;
  const P = gaussJordan(G);
  return P.map((row, i) => row.map((v, j) => (i === j ? 0 : -v / P[j][j])));
}

function timelines(rowsList: number[][], n: number): Timelines {
  return timelinesFromArrays({
    userIdx: rowsList.flatMap((r, u) => r.map(() => u)), itemIdx: rowsList.flat(), numUsers: rowsList.length, numItems: n,
  });
}

function maxDiff(B: Float32Array, ref: number[][]): number {
  const n = ref.length;
  let d = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d = Math.max(d, Math.abs(B[i * n + j] - ref[i][j]));
  return d;
}

function randomSpd(n: number, seed: number): Float64Array {
  const rng = new SmallRng(seed);
  const X = Float64Array.from({ length: n * n }, () => rng.normal());
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < n; p++) s += X[i * n + p] * X[j * n + p];
      A[i * n + j] = s / n + (i === j ? 0.5 : 0);
    }
  }
  return A;
}

describe('SPD inverse (tiled Cholesky)', () => {
  for (const [n, nb] of [[1, 4], [7, 3], [37, 8], [64, 16]] as const) {
    for (const f32 of [false, true]) {
      it(`A·A⁻¹ = I, L·Lᵀ = A (n=${n}, tile ${nb}, ${f32 ? 'float32' : 'float64'})`, () => {
        const A = randomSpd(n, n);
        const a = f32 ? Float32Array.from(A) : A.slice();
        const inv = spdInverse(a, n, { blockSize: nb });
        assert.ok(f32 ? inv instanceof Float32Array : inv instanceof Float64Array);
        const tol = f32 ? 2e-4 : 1e-10;
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            let s = 0;
            for (let p = 0; p < n; p++) s += A[i * n + p] * inv[p * n + j];
            assert.ok(Math.abs(s - (i === j ? 1 : 0)) < tol, `(${i},${j}) ${s}`);
            assert.equal(inv[i * n + j], inv[j * n + i]);
          }
        }
        const L = cholesky(a, n, { blockSize: nb });
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            if (j > i) assert.equal(L[i * n + j], 0);
            let s = 0;
            for (let p = 0; p < n; p++) s += L[i * n + p] * L[j * n + p];
            assert.ok(Math.abs(s - A[i * n + j]) < tol * 10);
          }
        }
      });
    }
  }

  it('matches Gauss-Jordan on a 6×6 example and works in place', () => {
    const A = randomSpd(6, 42);
    const ref = gaussJordan(Array.from({ length: 6 }, (_, i) => Array.from(A.subarray(i * 6, i * 6 + 6))));
    const a = A.slice();
    const inv = spdInverse(a, 6, { inPlace: true, blockSize: 4 });
    assert.equal(inv, a);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) assert.ok(Math.abs(inv[i * 6 + j] - ref[i][j]) < 1e-12);
  });

  it('rejects matrices that are not positive definite', () => {
    const a = Float64Array.of(1, 2, 2, 1);
    assert.throws(() => spdInverse(a, 2), NotPositiveDefiniteError);
    assert.throws(() => spdInverse(Float32Array.of(1, 0, 0, -1), 2), /not positive definite \(pivot -1 at row 1\)/);
    assert.equal(spdInverse(new Float64Array(0), 0).length, 0);
  });
});

// 8 users × 6 items (more users than items) and 3 users × 6 items (fewer: the dual's case).
const many = [[0, 1, 2], [0, 1], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 5], [1, 4], [0, 2, 4, 5]];
const few = [[0, 1, 2, 5], [1, 3], [2, 3, 4, 5]];

describe('EaseModel', () => {
  for (const [label, rowsList] of [['8 users', many], ['3 users', few]] as const) {
    for (const lambda of [0.5, 10]) {
      it(`closed form = Float64 Gauss-Jordan reference (${label}, λ=${lambda}): primal f32/f64 and dual`, async () => {
        const ref = easeReference(rowsList as number[][], 6, lambda);
        for (const [opts, tol] of [
          [{ method: 'primal', precision: 'float64' }, 1e-6],
          [{ method: 'primal', precision: 'float32', blockSize: 4 }, 2e-5],
          [{ method: 'dual', precision: 'float64' }, 1e-6],
          [{ method: 'dual', precision: 'float32' }, 2e-5],
        ] as const) {
          const m = new EaseModel();
          const rep = await m.fit(timelines(rowsList as number[][], 6), { lambda, ...opts });
          assert.equal(rep.params.method, opts.method);
          const { B, vocab } = m.weights();
          assert.deepEqual(Array.from(vocab), [0, 1, 2, 3, 4, 5]);
          const d = maxDiff(B, ref);
          assert.ok(d < tol, `${JSON.stringify(opts)}: max |ΔB| = ${d}`);
          for (let i = 0; i < 6; i++) assert.equal(B[i * 6 + i], 0);
        }
      });
    }
  }

  it("'auto' picks the dual for fewer users than items", async () => {
    const m = new EaseModel();
    assert.equal((await m.fit(timelines(few, 6), { lambda: 1 })).params.method, 'dual');
    assert.equal((await m.fit(timelines(many, 6), { lambda: 1 })).params.method, 'primal');
  });

  it('scores = sum of B rows of the distinct history; ranking, exclusions, k > n', async () => {
    const lambda = 2;
    const ref = easeReference(many, 6, lambda);
    const m = new EaseModel();
    await m.fit(timelines(many, 6), { lambda });
    const s = m.score(Int32Array.of(0, 3, 0));
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(s[j] - (ref[0][j] + ref[3][j])) < 1e-5);
    const expected = [1, 2, 4, 5].sort((a, b) => s[b] - s[a] || a - b);
    assert.deepEqual(Array.from(m.recommend(Int32Array.of(0, 3), 10).items), expected);
    assert.deepEqual(Array.from(m.recommend(Int32Array.of(0, 3), 2, Int32Array.of(expected[0])).items), expected.slice(1, 3));
    const sim = m.similarItems(0, 10);
    assert.equal(sim.items.length, 5);
    assert.ok(!Array.from(sim.items).includes(0));
  });

  it('items outside the vocabulary (unseen or beyond maxItems) are never recommended', async () => {
    const m = new EaseModel();
    // Item 6 unseen; maxItems 4 keeps the 4 most popular of items 0..5 (counts 4,4,4,3,4,3 -> 0,1,2,4).
    const rep = await m.fit(timelines(many, 7), { lambda: 1, maxItems: 4 });
    assert.deepEqual(Array.from(m.weights().vocab), [0, 1, 2, 4]);
    assert.match(rep.notes![0], /capped to the 4 most popular/);
    const r = m.recommend(Int32Array.of(0), 10);
    assert.deepEqual(Array.from(r.items).sort(), [1, 2, 4]);
    assert.equal(m.similarItems(3, 3).items.length, 0);
    assert.equal(m.score(Int32Array.of(0))[6], -Infinity);
  });

  it('save → load gives identical recommendations', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-ease-'));
    try {
      const m = new EaseModel();
      await m.fit(timelines(many, 7), { lambda: 3 });
      await m.save(dir);
      const l = await loadModel(dir);
      assert.equal(l.name, 'ease(λ=3)');
      for (const h of [[0], [1, 2], [5, 4, 3], []]) assert.deepEqual(l.recommend(Int32Array.from(h), 10), m.recommend(Int32Array.from(h), 10));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('EaseModel memory guard', () => {
  it('refuses a vocabulary over maxBytes with a clear message', async () => {
    await assert.rejects(new EaseModel().fit(timelines(many, 6), { maxBytes: 100 }), /need about .* GiB, over maxBytes/);
  });
});
