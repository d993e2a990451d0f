import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogisticRegression, lrLoss } from '../../src/rank/lr.js';
import { FactorizationMachine, fmForward, fmLoss } from '../../src/rank/fm.js';
import { loadRanker } from '../../src/rank/registry.js';
import { auc } from '../../src/rank/metrics.js';
import { rowsBatch, type FeatureBatch, type LabeledRows, type SparseRows } from '../../src/rank/types.js';
import { rng } from './helpers.js';

/** Random sparse rows over dim features, `nnz` entries each (an index may repeat within a row). */
function randomRows(n: number, dim: number, nnz: number, seed: number): SparseRows {
  const r = rng(seed);
  const indptr = new Int32Array(n + 1);
  const indices = new Int32Array(n * nnz);
  const values = new Float32Array(n * nnz);
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < nnz; e++) {
      indices[i * nnz + e] = Math.floor(r() * dim);
      values[i * nnz + e] = e % 2 ? 1 : Math.round(r() * 64) / 32; // exact in float32
    }
    indices[i * nnz + 1] = indices[i * nnz]; // a repeated index in every row
    indptr[i + 1] = (i + 1) * nnz;
  }
  return { rows: n, indptr, indices, values, fields: new Uint8Array(n * nnz) };
}

/** Parameters on a 2^-12 grid, so that ± 2^-10 is exact in float32. */
function gridParams(a: Float32Array, seed: number, scale = 0.5): void {
  const r = rng(seed);
  for (let i = 0; i < a.length; i++) a[i] = Math.round((r() - 0.5) * 2 * scale * 4096) / 4096;
}

/** Central finite difference of f with respect to a[i]. */
function fd(a: Float32Array, i: number, f: () => number): number {
  const h = 2 ** -10;
  const x = a[i];
  a[i] = x + h;
  const up = f();
  a[i] = x - h;
  const down = f();
  a[i] = x;
  return (up - down) / (2 * h);
}

/** Labels drawn from a logistic model with hidden weights. */
function logisticData(n: number, dim: number, nnz: number, seed: number): LabeledRows {
  const x = randomRows(n, dim, nnz, seed);
  const r = rng(seed + 1);
  const w = Float64Array.from({ length: dim }, () => (r() - 0.5) * 4);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = -0.5;
    for (let e = x.indptr[i]; e < x.indptr[i + 1]; e++) z += w[x.indices[e]] * x.values[e];
    y[i] = r() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  return { x, labels: { click: y } };
}

function split(d: LabeledRows, at: number): [LabeledRows, LabeledRows] {
  const sub = (a: number, b: number): LabeledRows => {
    const off = d.x.indptr[a];
    return {
      x: { rows: b - a, indptr: d.x.indptr.slice(a, b + 1).map((v) => v - off), indices: d.x.indices.slice(off, d.x.indptr[b]), values: d.x.values.slice(off, d.x.indptr[b]), fields: d.x.fields!.slice(off, d.x.indptr[b]) },
      labels: { click: d.labels.click.slice(a, b) },
    };
  };
  return [sub(0, at), sub(at, d.x.rows)];
}

/** The same rows scored as one shared part (entries 0..s-1 of every row must be equal) + rows. */
function sharedBatch(x: SparseRows, dim: number, s: number): FeatureBatch {
  const rows: SparseRows = { rows: x.rows, indptr: new Int32Array(x.rows + 1), indices: new Int32Array(x.indices.length), values: new Float32Array(x.values.length) };
  let e = 0;
  for (let r = 0; r < x.rows; r++) {
    for (let k = x.indptr[r] + s; k < x.indptr[r + 1]; k++) {
      rows.indices[e] = x.indices[k];
      rows.values[e++] = x.values[k];
    }
    rows.indptr[r + 1] = e;
  }
  return { dim, shared: { nnz: s, indices: x.indices.slice(0, s), values: x.values.slice(0, s) }, rows };
}

describe('logistic regression', () => {
  it('has the gradient of its loss (finite differences, repeated indices included)', () => {
    const dim = 12;
    const x = randomRows(30, dim, 5, 3);
    const y = Float32Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const w = new Float32Array(dim + 1);
    gridParams(w, 4);
    const l2 = 0.125;
    const grad = new Float64Array(dim + 1);
    lrLoss(w, dim, x, y, l2, grad);
    for (let i = 0; i <= dim; i++) {
      const num = fd(w, i, () => lrLoss(w, dim, x, y, l2));
      assert.ok(Math.abs(num - grad[i]) < 1e-6 * Math.max(1, Math.abs(num)), `∂/∂w[${i}]: analytic ${grad[i]}, numeric ${num}`);
    }
  });

  for (const optimizer of ['ftrl', 'adam'] as const) {
    it(`learns a logistic model with ${optimizer}`, async () => {
      const [train, test] = split(logisticData(6000, 200, 6, 11), 5000);
      const m = new LogisticRegression(200, { optimizer, ...(optimizer === 'adam' ? { lr: 0.05 } : { alpha: 0.2 }) });
      const rep = await m.fit(train, { epochs: 4, validation: test });
      const z = m.logits(rowsBatch(test.x, 200), 0);
      const a = auc(z, test.labels.click);
      assert.ok(a > 0.85, `${optimizer} AUC ${a}`);
      assert.equal(rep.kind, 'lr');
      assert.ok(rep.heads.click.validation!.auc > 0.85);
    });
  }

  it('FTRL-proximal L1 gives exact zeros (more with a stronger λ1)', async () => {
    const data = logisticData(3000, 500, 4, 21);
    const weak = new LogisticRegression(500, { l1: 0.01 });
    const strong = new LogisticRegression(500, { l1: 20 });
    await weak.fit(data, { epochs: 2 });
    await strong.fit(data, { epochs: 2 });
    assert.ok(strong.nonZero()[0] < weak.nonZero()[0] / 2, `non-zeros: λ1=20 → ${strong.nonZero()[0]}, λ1=0.01 → ${weak.nonZero()[0]}`);
  });

  it('scores a shared part plus rows exactly like the concatenated rows, and saves/loads', async () => {
    const data = logisticData(400, 64, 6, 5);
    // make the first two entries of every row identical (the shared part)
    for (let r = 0; r < 400; r++) {
      data.x.indices[data.x.indptr[r]] = 7;
      data.x.indices[data.x.indptr[r] + 1] = 9;
      data.x.values[data.x.indptr[r]] = 0.5;
      data.x.values[data.x.indptr[r] + 1] = 1;
    }
    const m = new LogisticRegression(64, { heads: ['click', 'conversion'] });
    await m.fit({ x: data.x, labels: { click: data.labels.click, conversion: data.labels.click.map((v, i) => (v && i % 2 ? 1 : 0)) } }, { epochs: 2 });
    const full = m.predict(rowsBatch(data.x, 64));
    const parts = m.predict(sharedBatch(data.x, 64, 2));
    for (let h = 0; h < 2; h++) for (let r = 0; r < 400; r++) assert.ok(Math.abs(full[h][r] - parts[h][r]) < 1e-6);
    const dir = mkdtempSync(join(tmpdir(), 'funnel-lr-'));
    try {
      await m.save(dir);
      const back = await loadRanker(dir);
      assert.equal(back.kind, 'lr');
      assert.deepEqual(back.heads, ['click', 'conversion']);
      assert.deepEqual(back.predict(rowsBatch(data.x, 64)), full);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad options and bad rows with errors naming them', async () => {
    assert.throws(() => new LogisticRegression(0), (e: Error) => e instanceof RangeError && /dim/.test(e.message));
    assert.throws(() => new LogisticRegression(10, { l1: -1 }), /l1/);
    assert.throws(() => new LogisticRegression(10, { optimizer: 'sgd' as never }), /optimizer/);
    const m = new LogisticRegression(10);
    const bad = randomRows(3, 50, 2, 1);
    await assert.rejects(m.fit({ x: bad, labels: { click: new Float32Array(3) } }), /indices\[\d+\] = \d+ is outside \[0, 10\)/);
    await assert.rejects(m.fit({ x: randomRows(3, 10, 2, 1), labels: {} }), /no column for head 'click'/);
  });
});

describe('factorisation machine', () => {
  it('has the gradient of its loss for w, the bias and V (finite differences)', () => {
    const dim = 9;
    const k = 3;
    const x = randomRows(25, dim, 4, 8);
    const y = Float32Array.from({ length: 25 }, (_, i) => (i % 4 === 1 ? 1 : 0));
    const w = new Float32Array(dim + 1);
    const V = new Float32Array(dim * k);
    gridParams(w, 9);
    gridParams(V, 10);
    const l2 = 0.0625;
    const l2V = 0.25;
    const gw = new Float64Array(dim + 1);
    const gv = new Float64Array(dim * k);
    fmLoss(w, V, k, dim, x, y, l2, l2V, gw, gv);
    const f = () => fmLoss(w, V, k, dim, x, y, l2, l2V);
    for (let i = 0; i <= dim; i++) {
      const num = fd(w, i, f);
      assert.ok(Math.abs(num - gw[i]) < 1e-6 * Math.max(1, Math.abs(num)), `∂/∂w[${i}]: analytic ${gw[i]}, numeric ${num}`);
    }
    for (let i = 0; i < dim * k; i++) {
      const num = fd(V, i, f);
      assert.ok(Math.abs(num - gv[i]) < 1e-6 * Math.max(1, Math.abs(num)), `∂/∂V[${i}]: analytic ${gv[i]}, numeric ${num}`);
    }
  });

  it('computes the O(kd) form equal to the pairwise sum', () => {
    const dim = 6;
    const k = 4;
    const w = new Float32Array(dim + 1);
    const V = new Float32Array(dim * k);
    gridParams(w, 1);
    gridParams(V, 2);
    const idx = Int32Array.of(0, 3, 5);
    const val = Float32Array.of(1, 0.5, 2);
    let pair = 0;
    for (let a = 0; a < 3; a++) for (let b = a + 1; b < 3; b++) for (let f = 0; f < k; f++) pair += V[idx[a] * k + f] * V[idx[b] * k + f] * val[a] * val[b];
    const lin = w[dim] + w[0] * 1 + w[3] * 0.5 + w[5] * 2;
    assert.ok(Math.abs(fmForward(w, V, k, dim, idx, val, 0, 3, new Float64Array(k)) - (lin + pair)) < 1e-9);
  });

  it('learns an interaction that logistic regression cannot', async () => {
    // two fields, A = features 0..9 and B = 10..19; click iff parity(A) ≠ parity(B) (90%)
    const n = 8000;
    const r = rng(31);
    const x: SparseRows = { rows: n, indptr: Int32Array.from({ length: n + 1 }, (_, i) => 2 * i), indices: new Int32Array(2 * n), values: new Float32Array(2 * n).fill(1), fields: new Uint8Array(2 * n) };
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const a = Math.floor(r() * 10);
      const b = 10 + Math.floor(r() * 10);
      x.indices[2 * i] = a;
      x.indices[2 * i + 1] = b;
      y[i] = (a % 2 !== b % 2) === r() < 0.9 ? 1 : 0;
    }
    const [train, test] = split({ x, labels: { click: y } }, 6000);
    const fm = new FactorizationMachine(20, { k: 4, lr: 0.02, initStd: 0.1 });
    await fm.fit(train, { epochs: 15 });
    const lr = new LogisticRegression(20);
    await lr.fit(train, { epochs: 3 });
    const aFm = auc(fm.logits(rowsBatch(test.x, 20), 0), test.labels.click);
    const aLr = auc(lr.logits(rowsBatch(test.x, 20), 0), test.labels.click);
    assert.ok(aFm > 0.8, `FM AUC ${aFm}`);
    assert.ok(aLr < 0.6, `LR AUC ${aLr}`);
  });

  it('scores k = 8 (unrolled) and other k alike, shared part included, and saves/loads', async () => {
    const data = logisticData(300, 50, 6, 41);
    for (let r = 0; r < 300; r++) {
      data.x.indices[data.x.indptr[r]] = 3;
      data.x.values[data.x.indptr[r]] = 0.75;
    }
    const fm = new FactorizationMachine(50, { k: 8, heads: ['click'] });
    await fm.fit(data, { epochs: 2 });
    const full = fm.logits(rowsBatch(data.x, 50), 0);
    const parts = fm.logits(sharedBatch(data.x, 50, 1), 0);
    const s = new Float64Array(8);
    for (let r = 0; r < 300; r++) {
      const ref = fmForward(fm.w[0], fm.V[0], 8, 50, data.x.indices, data.x.values, data.x.indptr[r], data.x.indptr[r + 1], s);
      assert.ok(Math.abs(full[r] - ref) < 1e-4, `row ${r}: ${full[r]} vs ${ref}`);
      assert.ok(Math.abs(parts[r] - ref) < 1e-4);
    }
    const dir = mkdtempSync(join(tmpdir(), 'funnel-fm-'));
    try {
      await fm.save(dir);
      const back = await loadRanker(dir);
      assert.equal(back.kind, 'fm');
      assert.deepEqual(back.logits(rowsBatch(data.x, 50), 0), full);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the best epoch on validation data', async () => {
    const [train, val] = split(logisticData(3000, 300, 8, 51), 2500);
    const fm = new FactorizationMachine(300, { lr: 0.05, l2: 0, l2V: 0 });
    const epochs: number[] = [];
    const rep = await fm.fit(train, { epochs: 8, validation: val, patience: 1, onEpoch: (e) => epochs.push(e.validation!.click.logLoss) });
    const best = Math.min(...epochs);
    assert.equal(rep.bestEpoch, epochs.indexOf(best) + 1);
    assert.ok(Math.abs(rep.heads.click.validation!.logLoss - best) < 1e-12);
  });
});
