/**
 * Kernel conformance: every kernel runs in both implementations (TypeScript twin and native
 * addon) on random inputs — empty, one element, and odd shapes that are not multiples of the
 * vector width or of the native blocking — and the results must agree to 1e-5 relative
 * (max |native - ts| <= 1e-5 * max |ts| per output array). Scatters and top-k must agree
 * exactly across thread counts. The TypeScript twins are also checked against naive
 * references and hand-computed values.
 *
 * Without the addon the native half is skipped, unless FUNNEL_KERNELS=native (then it fails).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  getThreadGrain, getThreads, kernelInfo, kernels, nativeKernels, selectKernels, setThreads, topkOf, tsKernels,
} from '../../src/math/kernels/index.js';
import type { Kernels } from '../../src/math/kernels/index.js';
import { doctorReport, formatReport } from '../../src/cli/commands/doctor.js';
import { seededUniform } from '../../src/math/rng.js';

const forced = (process.env.FUNNEL_KERNELS ?? '').toLowerCase();
const skipNative = nativeKernels ? false : forced === 'native' ? false : 'native addon not built';
const TOL = 1e-5;

const rng = seededUniform;
const rand = rng(12345);
function randn(len: number, scale = 1): Float32Array {
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}
function randInt(len: number, limit: number): Int32Array {
  const a = new Int32Array(len);
  for (let i = 0; i < len; i++) a[i] = Math.floor(rand() * limit);
  return a;
}
/** Random CSR with rows×cols and about `density` of entries, rows may be empty. */
function randCsr(rows: number, cols: number, density: number) {
  const indptr = new Int32Array(rows + 1);
  const idx: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) if (rand() < density) idx.push(c);
    indptr[r + 1] = idx.length;
  }
  return { indptr, indices: Int32Array.from(idx), values: randn(idx.length) };
}

function nativeOrThrow(): Kernels {
  if (!nativeKernels) throw new Error(`FUNNEL_KERNELS=native but the addon is unavailable: ${kernelInfo().reason}`);
  return nativeKernels;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = TOL): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  let err = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const a = actual[i];
    if (Number.isNaN(e) || Number.isNaN(a)) {
      assert.ok(Number.isNaN(e) && Number.isNaN(a), `${what}[${i}]: ${a} vs ${e}`);
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      assert.equal(a, e, `${what}[${i}]`);
      continue;
    }
    scale = Math.max(scale, Math.abs(e));
    const d = Math.abs(a - e);
    if (d > err) {
      err = d;
      at = i;
    }
  }
  assert.ok(err <= tol * Math.max(scale, 1e-30), `${what}: max error ${err} at [${at}] (${actual[at]} vs ${expected[at]}) exceeds ${tol} × ${scale}`);
}

/** Run `call` on fresh copies of the output(s) for each implementation and compare. */
function agree<T extends Float32Array | Int32Array>(what: string, outs: () => T[], call: (k: Kernels, o: T[]) => void, exact = false): T[][] {
  const ts = outs();
  call(tsKernels, ts);
  const nat = outs();
  call(nativeOrThrow(), nat);
  ts.forEach((t, i) => {
    if (exact || t instanceof Int32Array) assert.deepEqual(Array.from(nat[i]), Array.from(t), `${what} output ${i}`);
    else assertClose(nat[i], t, `${what} output ${i}`);
  });
  return [ts, nat];
}

/** Run the native side on 1, 2 and 3 threads (every call split): results must be identical. */
function threadInvariant<T extends Float32Array | Int32Array>(what: string, outs: () => T[], call: (k: Kernels, o: T[]) => void): void {
  const before = getThreads();
  const grain = getThreadGrain();
  try {
    setThreads(1);
    const one = outs();
    call(nativeOrThrow(), one);
    for (const t of [2, 3]) {
      setThreads(t, 0);
      const many = outs();
      call(nativeOrThrow(), many);
      one.forEach((o, i) => assert.deepEqual(Array.from(many[i]), Array.from(o), `${what} output ${i}: 1 vs ${t} threads`));
    }
  } finally {
    setThreads(before, grain);
  }
}

function naiveGemm(tA: boolean, tB: boolean, m: number, n: number, k: number, alpha: number, a: Float32Array, b: Float32Array, beta: number, c: Float32Array): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = alpha * s + (beta === 0 ? 0 : beta * c[i * n + j]);
    }
  return out;
}

// Shapes: empty, one, odd sizes around the vector width (16) and the 8×48 tile, and some that
// cross the native blocking (KC = 256, MC = 192, NC = 960).
const GEMM_SHAPES: [number, number, number][] = [
  [0, 0, 0], [0, 5, 3], [4, 0, 3], [3, 4, 0], [1, 1, 1], [1, 17, 1], [7, 1, 33], [9, 49, 17],
  [17, 47, 31], [33, 95, 65], [8, 48, 16], [65, 130, 257], [200, 31, 300], [5, 1000, 7],
  [2, 130, 65], [3, 77, 300], [4, 200, 33], // few rows: the unpacked path
];

describe('kernels: selection and info', () => {
  it('kernelInfo reports the active implementation and why', () => {
    const info = kernelInfo();
    assert.ok(info.active === 'ts' || info.active === 'native');
    assert.equal(kernels.name, info.active);
    assert.equal(info.nativeAvailable, nativeKernels !== null);
    assert.ok(info.reason.length > 0);
    if (forced === 'ts') assert.equal(info.active, 'ts');
    if (forced === 'native') assert.equal(info.active, 'native', info.reason);
    if (info.nativeAvailable) assert.match(String(info.buildFlags), /-O3/);
    assert.ok(info.threads >= 1);
  });

  it('funnel doctor reports the kernels, a passing self-test and sqlite', () => {
    const r = doctorReport();
    assert.equal(r.node, process.version);
    assert.equal(r.kernels.active, kernelInfo().active);
    assert.equal(r.kernels.selfTest, 'ok');
    assert.match(String(r.sqlite.version), /^3\./);
    assert.match(formatReport(r), new RegExp(`kernels +${r.kernels.active}: `));
    // HNSW graphs live in the addon: available exactly when it loaded.
    assert.equal(r.hnsw === null, r.kernels.nativeAvailable);
    assert.match(formatReport(r), r.hnsw === null ? /ann index +IVF and HNSW available/ : /ann index +unavailable: item indexes fall back to the exact scan/);
  });

  it('selectKernels switches and restores', { skip: skipNative }, () => {
    const was = kernelInfo().active;
    try {
      assert.equal(selectKernels('ts'), 'ts');
      assert.equal(kernels.name, 'ts');
      assert.equal(selectKernels('native'), 'native');
      assert.equal(kernels.name, 'native');
    } finally {
      selectKernels(was, 'restored by test');
    }
  });

  it('setThreads validates and applies', () => {
    const before = getThreads();
    assert.throws(() => setThreads(-1), RangeError);
    assert.throws(() => setThreads(1.5), RangeError);
    if (nativeKernels) {
      assert.equal(setThreads(1), 1);
      assert.equal(getThreads(), 1);
      setThreads(before);
    } else assert.equal(setThreads(4), 1);
  });
});

describe('kernels: argument checks (both implementations)', () => {
  const impls = () => [tsKernels, ...(nativeKernels ? [nativeKernels] : [])];
  it('rejects short buffers, bad shapes and types', () => {
    for (const k of impls()) {
      assert.throws(() => k.sgemm(false, false, 2, 2, 2, 1, new Float32Array(3), new Float32Array(4), 0, new Float32Array(4)), /kernels\.sgemm: a has length 3, needs at least 4/);
      assert.throws(() => k.sgemm(false, false, -1, 2, 2, 1, new Float32Array(4), new Float32Array(4), 0, new Float32Array(4)), /m must be an integer/);
      assert.throws(() => k.sgemm(false, false, 1, 1, 1, 1, new Float64Array(1) as unknown as Float32Array, new Float32Array(1), 0, new Float32Array(1)), TypeError);
      const c = new Float32Array(8);
      assert.throws(() => k.sgemm(false, false, 2, 2, 2, 1, c.subarray(0, 4), new Float32Array(4), 0, c.subarray(2, 6)), /overlaps a/);
      assert.throws(() => k.dotRows(1, 2, new Float32Array(4), Int32Array.of(2), new Float32Array(2), null, new Float32Array(1)), /xIdx\[0\] = 2 is outside 0\.\.1/);
      assert.throws(() => k.csrmm(2, 3, Int32Array.of(0, 2, 1), Int32Array.of(0, 1), new Float32Array(2), 1, 1, new Float32Array(3), 0, new Float32Array(2)), /indptr is decreasing/);
      assert.throws(() => k.csrmm(1, 3, Int32Array.of(0, 1), Int32Array.of(3), new Float32Array(1), 1, 1, new Float32Array(3), 0, new Float32Array(1)), /indices\[0\] = 3/);
      assert.throws(() => k.embeddingBag(1, 2, Int32Array.of(0, 1), Int32Array.of(0), null, new Float32Array(2), 'max' as 'sum', new Float32Array(2)), /mode must be/);
      assert.throws(() => k.sampledScores(1, 2, new Float32Array(2), 1, Int32Array.of(1), new Float32Array(4), new Float32Array(1), new Float32Array(1)), /itemIds\[0\] = 1 is outside 0\.\.0/);
      assert.throws(() => k.adamRows(1, 2, null, new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2), { lr: 0.1, step: 0 }), /step must be >= 1/);
      assert.throws(() => k.topk(1, 3, new Float32Array(3), 2, Int32Array.of(0, 0), null, new Int32Array(2), new Float32Array(2)), /both be given/);
      // Long index arrays (scanned in C++ by the native wrapper).
      const ids = randInt(5000, 100);
      ids[4321] = 100;
      assert.throws(() => k.sampledScores(1, 1, new Float32Array(1), 5000, ids, new Float32Array(100), null, new Float32Array(5000)), /itemIds\[4321\] = 100 is outside 0\.\.99/);
      ids[4321] = -7;
      assert.throws(() => k.sampledScores(1, 1, new Float32Array(1), 5000, ids, new Float32Array(100), null, new Float32Array(5000)), /itemIds\[4321\] = -7/);
      ids[4321] = 0;
      k.sampledScores(1, 1, new Float32Array(1), 5000, ids, new Float32Array(100), null, new Float32Array(5000));
    }
  });
});

describe('kernels: TypeScript twin against references', () => {
  it('sgemm matches a naive float64 product for all transposes', () => {
    for (const [m, n, k] of [[3, 5, 7], [1, 1, 1], [6, 2, 9]] as const)
      for (const tA of [false, true])
        for (const tB of [false, true]) {
          const a = randn(m * k), b = randn(k * n), c = randn(m * n);
          const ref = naiveGemm(tA, tB, m, n, k, 0.5, a, b, 2, c);
          tsKernels.sgemm(tA, tB, m, n, k, 0.5, a, b, 2, c);
          assertClose(c, ref, `ts sgemm ${m}x${n}x${k} ${tA} ${tB}`, 1e-6);
        }
  });

  it('beta = 0 clears NaN in C', () => {
    const c = Float32Array.of(NaN, NaN);
    tsKernels.sgemm(false, false, 1, 2, 1, 1, Float32Array.of(2), Float32Array.of(1, 3), 0, c);
    assert.deepEqual(Array.from(c), [2, 6]);
  });

  it('embeddingBag mean/sum, weights and empty bags', () => {
    const table = Float32Array.of(1, 2, 3, 4, 5, 6); // rows (1,2) (3,4) (5,6)
    const indptr = Int32Array.of(0, 2, 2, 3);
    const indices = Int32Array.of(0, 2, 1);
    const out = new Float32Array(6).fill(9);
    tsKernels.embeddingBag(3, 2, indptr, indices, null, table, 'mean', out);
    assert.deepEqual(Array.from(out), [3, 4, 0, 0, 3, 4]);
    tsKernels.embeddingBag(3, 2, indptr, indices, Float32Array.of(1, 0.5, 2), table, 'sum', out);
    assert.deepEqual(Array.from(out), [3.5, 5, 0, 0, 6, 8]);
    const grad = new Float32Array(6);
    tsKernels.embeddingBagBackward(3, 2, indptr, indices, null, Float32Array.of(2, 4, 1, 1, 1, 1), 'mean', grad);
    assert.deepEqual(Array.from(grad), [1, 2, 1, 1, 1, 2]);
  });

  it('adamRows: first step moves each touched weight by about lr, lazily', () => {
    const param = Float32Array.of(1, 1, 1, 1, 1, 1);
    const m = new Float32Array(6), v = new Float32Array(6);
    tsKernels.adamRows(1, 2, Int32Array.of(2), Float32Array.of(0.3, -2), param, m, v, { lr: 0.1, step: 1 });
    assertClose(param, [1, 1, 1, 1, 0.9, 1.1], 'param', 1e-6);
    assertClose(m, [0, 0, 0, 0, 0.03, -0.2], 'm', 1e-6);
    assertClose(v, [0, 0, 0, 0, 0.001 * 0.09, 0.001 * 4], 'v', 1e-6);
  });

  it('topk: order, ties to the lower index, NaN skipped, exclusions, short rows', () => {
    const s = Float32Array.of(0.5, NaN, 0.9, 0.5, -Infinity, 0.9, 0.1);
    assert.deepEqual(Array.from(topkOf(s, 4).indices), [2, 5, 0, 3]);
    assert.deepEqual(Array.from(topkOf(s, 3, Int32Array.of(5, 0, 99, -1)).indices), [2, 3, 6]);
    const r = topkOf(s, 10, Int32Array.of(2));
    assert.deepEqual(Array.from(r.indices), [5, 0, 3, 6, 4]);
    assert.deepEqual(Array.from(r.scores), [Math.fround(0.9), 0.5, 0.5, Math.fround(0.1), -Infinity]);
    const outIdx = new Int32Array(6), outS = new Float32Array(6);
    tsKernels.topk(2, 2, Float32Array.of(1, 2, 3, NaN), 3, null, null, outIdx, outS);
    assert.deepEqual(Array.from(outIdx), [1, 0, -1, 0, -1, -1]);
  });

  it('topk agrees with a full sort on random rows', () => {
    const n = 257, rows = 5, k = 20;
    const scores = randn(rows * n);
    for (let i = 0; i < scores.length; i += 7) scores[i] = 0.25; // ties
    const outIdx = new Int32Array(rows * k), outS = new Float32Array(rows * k);
    tsKernels.topk(rows, n, scores, k, null, null, outIdx, outS);
    for (let r = 0; r < rows; r++) {
      const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => scores[r * n + y] - scores[r * n + x] || x - y);
      assert.deepEqual(Array.from(outIdx.subarray(r * k, (r + 1) * k)), order.slice(0, k));
    }
  });
});

describe('kernels: native agrees with the TypeScript twin', { skip: skipNative }, () => {
  const threadsBefore = getThreads();
  const grainBefore = getThreadGrain();
  after(() => setThreads(threadsBefore, grainBefore));

  it('sgemm: all transposes, alpha/beta, edge shapes, 1 to 3 threads', () => {
    for (const threads of [1, 2, 3]) {
      setThreads(threads, threads === 1 ? undefined : 0);
      for (const [m, n, k] of GEMM_SHAPES)
        for (const tA of [false, true])
          for (const tB of [false, true]) {
            const a = randn(m * k), b = randn(k * n), c0 = randn(m * n);
            for (const [alpha, beta] of [[1, 0], [0.7, 0.3], [-1.5, 1], [0, 2]])
              agree(`sgemm ${m}x${n}x${k} tA=${tA} tB=${tB} a=${alpha} b=${beta} T=${threads}`, () => [c0.slice()], (kk, [c]) => kk.sgemm(tA, tB, m, n, k, alpha, a, b, beta, c));
          }
    }
  });

  it('sgemm works on subarray views', () => {
    const buf = randn(3 + 5 * 7), b = randn(7 * 4), c0 = randn(1 + 5 * 4);
    agree('sgemm views', () => [c0.slice()], (kk, [c]) => kk.sgemm(false, false, 5, 4, 7, 1, buf.subarray(3), b, 0.5, c.subarray(1)));
  });

  it('csrmm: random sparsity, empty rows, odd widths', () => {
    for (const [rows, cols, n, density] of [[0, 3, 4, 0.5], [1, 1, 1, 1], [5, 7, 0, 0.5], [13, 29, 1, 0.3], [31, 17, 19, 0.2], [40, 300, 129, 0.05], [64, 64, 200, 0.1], [9, 9, 257, 0.5]]) {
      const { indptr, indices, values } = randCsr(rows, cols, density);
      const b = randn(cols * n), c0 = randn(rows * n);
      for (const [alpha, beta] of [[1, 0], [0.5, -2], [2, 1]])
        agree(`csrmm ${rows}x${cols}·${n} a=${alpha} b=${beta}`, () => [c0.slice()], (kk, [c]) => kk.csrmm(rows, cols, indptr, indices, values, n, alpha, b, beta, c));
      threadInvariant(`csrmm ${rows}x${cols}·${n}`, () => [c0.slice()], (kk, [c]) => kk.csrmm(rows, cols, indptr, indices, values, n, 1, b, 0.5, c));
    }
  });

  it('mmcsr: dense × CSR', () => {
    for (const [m, rows, cols, density] of [[0, 3, 4, 0.5], [1, 1, 1, 1], [3, 5, 0, 0.5], [5, 17, 13, 0.3], [9, 40, 33, 0.2], [33, 64, 100, 0.1]]) {
      const { indptr, indices, values } = randCsr(rows, cols, density);
      const a = randn(m * rows), c0 = randn(m * cols);
      for (const [alpha, beta] of [[1, 0], [0.5, 1.5]])
        agree(`mmcsr ${m}x${rows}·${rows}x${cols} a=${alpha} b=${beta}`, () => [c0.slice()], (kk, [c]) => kk.mmcsr(m, rows, cols, indptr, indices, values, alpha, a, beta, c));
      threadInvariant(`mmcsr ${m}x${rows}x${cols}`, () => [c0.slice()], (kk, [c]) => kk.mmcsr(m, rows, cols, indptr, indices, values, 1, a, 0, c));
    }
  });

  it('dotRows and axpyRows, with and without gathers, repeated rows', () => {
    for (const [n, d] of [[0, 4], [1, 1], [3, 0], [7, 17], [33, 600], [100, 31]]) {
      const rowsX = n + 3, rowsY = Math.max(1, Math.floor(n / 2));
      const x = randn(rowsX * d), y0 = randn(Math.max(n, rowsY) * d);
      const xi = randInt(n, rowsX), yi = randInt(n, rowsY); // yi repeats rows
      const alphas = randn(n);
      agree(`dotRows ${n}x${d}`, () => [new Float32Array(n)], (kk, [o]) => kk.dotRows(n, d, x, null, y0, null, o));
      agree(`dotRows gathered ${n}x${d}`, () => [new Float32Array(n)], (kk, [o]) => kk.dotRows(n, d, x, xi, y0, yi, o));
      agree(`axpyRows ${n}x${d}`, () => [y0.slice()], (kk, [y]) => kk.axpyRows(n, d, 0.75, x, null, y, null));
      agree(`axpyRows scatter ${n}x${d}`, () => [y0.slice()], (kk, [y]) => kk.axpyRows(n, d, alphas, x, xi, y, yi));
      threadInvariant(`axpyRows scatter ${n}x${d}`, () => [y0.slice()], (kk, [y]) => kk.axpyRows(n, d, alphas, x, xi, y, yi));
    }
  });

  it('embeddingBag forward and backward (sum/mean, weights, empty bags, repeats)', () => {
    for (const [bags, d, tableRows, maxLen] of [[0, 8, 4, 3], [1, 1, 1, 1], [4, 0, 3, 3], [5, 17, 9, 6], [37, 600, 50, 20], [64, 33, 1000, 40]]) {
      const lens = Array.from({ length: bags }, () => Math.floor(rand() * (maxLen + 1)));
      const indptr = new Int32Array(bags + 1);
      lens.forEach((l, b) => (indptr[b + 1] = indptr[b] + l));
      const nnz = indptr[bags];
      const indices = randInt(nnz, tableRows);
      const weights = randn(nnz);
      const table = randn(tableRows * d);
      const gradOut = randn(bags * d);
      const g0 = randn(tableRows * d);
      for (const mode of ['sum', 'mean'] as const)
        for (const w of [null, weights]) {
          const tag = `${bags} bags d=${d} ${mode} w=${w ? 'yes' : 'no'}`;
          agree(`embeddingBag ${tag}`, () => [new Float32Array(bags * d).fill(NaN)], (kk, [o]) => kk.embeddingBag(bags, d, indptr, indices, w, table, mode, o));
          agree(`embeddingBagBackward ${tag}`, () => [g0.slice()], (kk, [g]) => kk.embeddingBagBackward(bags, d, indptr, indices, w, gradOut, mode, g));
          threadInvariant(`embeddingBagBackward ${tag}`, () => [g0.slice()], (kk, [g]) => kk.embeddingBagBackward(bags, d, indptr, indices, w, gradOut, mode, g));
        }
    }
  });

  it('sampledScores and its backward', () => {
    for (const [nUsers, d, nSampled, tableRows] of [[0, 4, 3, 5], [1, 1, 1, 1], [3, 0, 4, 5], [2, 5, 0, 3], [3, 17, 130, 300], [1, 64, 200, 50], [7, 17, 49, 100], [33, 600, 97, 500], [65, 31, 1001, 2000]]) {
      const users = randn(nUsers * d), table = randn(tableRows * d), bias = randn(tableRows);
      const ids = randInt(nSampled, tableRows);
      const g = randn(nUsers * nSampled);
      for (const bb of [null, bias])
        agree(`sampledScores ${nUsers}x${nSampled} d=${d} bias=${bb ? 'yes' : 'no'}`, () => [new Float32Array(nUsers * nSampled).fill(NaN)], (kk, [o]) => kk.sampledScores(nUsers, d, users, nSampled, ids, table, bb, o));
      agree(`sampledScoresBackward ${nUsers}x${nSampled} d=${d}`,
        () => [new Float32Array(nUsers * d).fill(NaN), new Float32Array(nSampled * d).fill(NaN), new Float32Array(nSampled).fill(NaN)],
        (kk, [gu, gs, gb]) => kk.sampledScoresBackward(nUsers, d, users, nSampled, ids, table, g, gu, gs, gb));
      agree(`sampledScoresBackward users only ${nUsers}x${nSampled} d=${d}`, () => [new Float32Array(nUsers * d)],
        (kk, [gu]) => kk.sampledScoresBackward(nUsers, d, users, nSampled, ids, table, g, gu, null, null));
    }
  });

  it('bprPairs: gradients and loss, empty rows, odd widths, 1 to 3 threads', () => {
    for (const threads of [1, 2, 3]) {
      setThreads(threads, threads === 1 ? undefined : 0);
      for (const [rows, n] of [[0, 5], [1, 1], [3, 0], [4, 17], [9, 200], [33, 1001]]) {
        const s = randn(rows * n);
        const counts = Array.from({ length: rows }, (_, r) => (r * 7) % 4);
        const ptr = new Int32Array(rows + 1);
        for (let r = 0; r < rows; r++) ptr[r + 1] = ptr[r] + counts[r];
        const pos = randn(ptr[rows]);
        const g0 = randn(rows * n);
        let losses: number[] = [];
        agree(`bprPairs ${rows}x${n} T=${threads}`, () => [g0.slice(), new Float32Array(ptr[rows]).fill(NaN)], (kk, [gs, gp]) => {
          losses.push(kk.bprPairs(rows, n, s, ptr, pos, 0.37, gs, gp, true));
        });
        assert.ok(Math.abs(losses[0] - losses[1]) <= 1e-5 * Math.max(1, Math.abs(losses[0])), `loss ${losses[0]} vs ${losses[1]}`);
        losses = [];
      }
    }
  });

  it('adamRows: dense and lazy (with repeated rows), weight decay', () => {
    for (const [n, d, tableRows] of [[0, 4, 3], [1, 1, 1], [3, 0, 2], [7, 17, 20], [50, 600, 30], [64, 33, 1000]]) {
      const grad = randn(n * d);
      const p0 = randn(Math.max(n, tableRows) * d), m0 = randn(p0.length, 0.1), v0 = randn(p0.length, 0.01).map(Math.abs);
      const rows = randInt(n, tableRows);
      for (const opts of [{ lr: 0.01, step: 1 }, { lr: 0.003, step: 17, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.01 }]) {
        const fresh = () => [p0.slice(), m0.slice(), v0.slice()];
        agree(`adamRows dense ${n}x${d} step=${opts.step}`, fresh, (kk, [p, m, v]) => kk.adamRows(n, d, null, grad, p, m, v, opts));
        agree(`adamRows lazy ${n}x${d} step=${opts.step}`, fresh, (kk, [p, m, v]) => kk.adamRows(n, d, rows, grad, p, m, v, opts));
        threadInvariant(`adamRows lazy ${n}x${d}`, fresh, (kk, [p, m, v]) => kk.adamRows(n, d, rows, grad, p, m, v, opts));
      }
    }
  });

  it('topk: exact agreement, with exclusions, ties, NaN and k > n', () => {
    for (const [rows, n, k] of [[0, 5, 3], [1, 0, 2], [1, 1, 1], [3, 5, 0], [4, 17, 5], [7, 1000, 50], [2, 33, 40], [16, 5000, 100]]) {
      const scores = randn(rows * n);
      for (let i = 0; i < scores.length; i += 11) scores[i] = 0.5;
      for (let i = 5; i < scores.length; i += 97) scores[i] = NaN;
      const exclIndptr = new Int32Array(rows + 1);
      const ex: number[] = [];
      for (let r = 0; r < rows; r++) {
        const e = Math.floor(rand() * Math.min(n + 2, 30));
        for (let j = 0; j < e; j++) ex.push(Math.floor(rand() * (n + 4)) - 2); // some out of range
        exclIndptr[r + 1] = ex.length;
      }
      const exclIndices = Int32Array.from(ex);
      const outs = () => [new Int32Array(rows * k), new Float32Array(rows * k)] as unknown as (Float32Array | Int32Array)[];
      agree(`topk ${rows}x${n} k=${k}`, outs, (kk, [i, s]) => kk.topk(rows, n, scores, k, null, null, i as Int32Array, s as Float32Array), true);
      agree(`topk excl ${rows}x${n} k=${k}`, outs, (kk, [i, s]) => kk.topk(rows, n, scores, k, exclIndptr, exclIndices, i as Int32Array, s as Float32Array), true);
    }
  });

  it('the active `kernels` forwards to the selected implementation', () => {
    const a = randn(6), b = randn(6);
    const viaActive = new Float32Array(4), direct = new Float32Array(4);
    kernels.sgemm(false, false, 2, 2, 3, 1, a, b, 0, viaActive);
    (kernels.name === 'native' ? nativeOrThrow() : tsKernels).sgemm(false, false, 2, 2, 3, 1, a, b, 0, direct);
    assert.deepEqual(viaActive, direct);
  });
});
