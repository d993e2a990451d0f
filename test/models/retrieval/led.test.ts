import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedBatchGradients, LedModel, type LedLoss } from '../../../src/models/retrieval/led.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { SmallRng, timelinesFromArrays, type Timelines } from '../../../src/models/retrieval/types.js';

function gradCheck(loss: LedLoss, tuning: 'train' | 'project', perUser = false, weighted = false) {
  const I = 7, d = 3;
  const rng = new SmallRng(3);
  const base = Float32Array.from({ length: I * d }, () => rng.normal() * 0.5);
  const P = Float32Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? 1 : 0) + rng.normal() * 0.2);
  const bias = Float32Array.from({ length: I }, () => rng.normal() * 0.3);
  // Per user: user 0 draws [1, 4, 5, 6], user 1 draws [0, 4, 4, 2] (a repeat and one of its inputs).
  const neg = loss === 'softmax' ? Int32Array.from({ length: I }, (_, i) => i) : Int32Array.from(perUser ? [1, 4, 5, 6, 0, 4, 4, 2] : [1, 4, 5, 6]);
  const comp = new LedBatchGradients({ dim: d, numItems: I, base, P, bias, tuning, loss, maxBatch: 2, negatives: perUser ? 4 : neg.length, negativesPerUser: perUser });
  const inputs = [[0, 2], [3]];
  // Weighted: non-uniform per-positive weights, a weight-0 positive (item 6) included.
  const targets = weighted ? [[1, 3, 6], [2]] : [[1, 3], [2]];
  const weights = weighted ? [[0.5, 2.5, 0], [1.5]] : undefined;
  comp.runLists(inputs, targets, neg, weights);
  // Dense copies of the analytic gradients.
  const gBase = new Float64Array(I * d);
  const gBias = new Float64Array(I);
  for (let s = 0; s < comp.gV.count; s++) for (let j = 0; j < d; j++) gBase[comp.gV.rows[s] * d + j] = comp.gV.grad[s * d + j];
  for (let s = 0; s < comp.gB.count; s++) gBias[comp.gB.rows[s]] = comp.gB.grad[s];
  const gP = Float64Array.from(comp.gP);
  const eps = 1e-2;
  const check = (arr: Float32Array, grad: ArrayLike<number>, what: string) => {
    for (let k = 0; k < arr.length; k++) {
      const x = arr[k];
      arr[k] = x + eps;
      const lp = comp.runLists(inputs, targets, neg, weights);
      arr[k] = x - eps;
      const lm = comp.runLists(inputs, targets, neg, weights);
      arr[k] = x;
      const num = (lp - lm) / (2 * eps);
      assert.ok(Math.abs(num - grad[k]) <= 2e-3 + 2e-2 * Math.abs(num), `${loss}/${tuning}${weighted ? ' weighted' : ''} ${what}[${k}]: numeric ${num} vs analytic ${grad[k]}`);
    }
  };
  check(bias, gBias, 'bias');
  if (tuning === 'train') check(base, gBase, 'v');
  else check(P, gP, 'P');
}

/** Users with one of `k` tastes; each taste likes a block of items. */
function clustered(users: number, items: number, k: number, perUser: number, seed = 1): Timelines {
  const rng = new SmallRng(seed);
  const u: number[] = [], it: number[] = [];
  const block = items / k;
  for (let x = 0; x < users; x++) {
    const taste = x % k;
    const seen = new Set<number>();
    while (seen.size < perUser) seen.add(Math.floor(taste * block + rng.int(block)));
    for (const i of seen) { u.push(x); it.push(i); }
  }
  return timelinesFromArrays({ userIdx: u, itemIdx: it, numItems: items });
}

describe('LED', () => {
  for (const loss of ['bpr', 'ns', 'css', 'softmax'] as LedLoss[]) {
    for (const tuning of ['train', 'project'] as const) {
      it(`gradients match finite differences: ${loss}, ${tuning}`, () => gradCheck(loss, tuning));
      if (loss !== 'softmax') it(`gradients match finite differences: ${loss}, ${tuning}, per-user negatives`, () => gradCheck(loss, tuning, true));
      it(`gradients match finite differences: ${loss}, ${tuning}, weighted positives`, () => gradCheck(loss, tuning, false, true));
      if (loss !== 'softmax') it(`gradients match finite differences: ${loss}, ${tuning}, weighted positives, per-user negatives`, () => gradCheck(loss, tuning, true, true));
    }
  }

  it('weighted positives: all-ones change nothing, a common factor scales, mixed weights give the weighted mean of one-positive terms', () => {
    const I = 8, d = 3;
    const rng = new SmallRng(11);
    const base = Float32Array.from({ length: I * d }, () => rng.normal() * 0.5);
    const P = Float32Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? 1 : 0));
    const bias = Float32Array.from({ length: I }, () => rng.normal() * 0.3);
    const inputs = [[0, 2], [3, 4]];
    const targets = [[1, 3, 5], [2, 7]];
    const dense = (g: LedBatchGradients) => {
      const out = new Float64Array(I * (d + 1));
      for (let s = 0; s < g.gV.count; s++) for (let j = 0; j < d; j++) out[g.gV.rows[s] * (d + 1) + j] = g.gV.grad[s * d + j];
      for (let s = 0; s < g.gB.count; s++) out[g.gB.rows[s] * (d + 1) + d] = g.gB.grad[s];
      return out;
    };
    for (const loss of ['bpr', 'ns', 'css', 'softmax'] as LedLoss[]) {
      const neg = loss === 'softmax' ? Int32Array.from({ length: I }, (_, i) => i) : Int32Array.from([1, 4, 6]);
      const mk = () => new LedBatchGradients({ dim: d, numItems: I, base, P, bias, tuning: 'train', loss, maxBatch: 2, negatives: neg.length });
      const plain = mk();
      const l0 = plain.runLists(inputs, targets, neg);
      const g0 = dense(plain);
      const ones = mk();
      const l1 = ones.runLists(inputs, targets, neg, [[1, 1, 1], [1, 1]]);
      assert.equal(l1, l0, `${loss}: all-ones loss`);
      assert.deepEqual(dense(ones), g0, `${loss}: all-ones gradients`);
      const twice = mk();
      const l2 = twice.runLists(inputs, targets, neg, [[2, 2, 2], [2, 2]]);
      assert.ok(Math.abs(l2 - 2 * l0) < 1e-5, `${loss}: weights 2 double the loss (${l2} vs ${2 * l0})`);
      const g2 = dense(twice);
      for (let k = 0; k < g0.length; k++) assert.ok(Math.abs(g2[k] - 2 * g0[k]) < 1e-5, `${loss}: weights 2 double gradient ${k}`);
      // Non-uniform: the loss and gradients are the weighted mean of the one-positive ones.
      const one = (t: number) => {
        const c = mk();
        return { l: c.runLists([[0, 2]], [[t]], neg), g: dense(c) };
      };
      const [a, b, c] = [one(1), one(3), one(5)];
      const w = [0.5, 3, 0];
      const mixed = mk();
      const lm = mixed.runLists([[0, 2]], [[1, 3, 5]], neg, [w]);
      assert.ok(Math.abs(lm - (w[0] * a.l + w[1] * b.l + w[2] * c.l) / 3) < 1e-5, `${loss}: weighted loss ${lm}`);
      const gm = dense(mixed);
      for (let k = 0; k < gm.length; k++) {
        const want = (w[0] * a.g[k] + w[1] * b.g[k] + w[2] * c.g[k]) / 3;
        assert.ok(Math.abs(gm[k] - want) < 1e-5, `${loss}: weighted gradient ${k}: ${gm[k]} vs ${want}`);
      }
    }
  });

  it('typeWeights: all-ones weights train exactly as no weights; weight-0 types are never targets', async () => {
    const data = clustered(90, 30, 3, 8, 7);
    const typed = { ...data, types: new Uint16Array(data.items.length).map((_, p) => (data.items[p] % 10 < 5 ? 0 : 1)) };
    for (const opts of [
      { loss: 'bpr' as const },
      { loss: 'ns' as const, maxTargets: 3 },
      { loss: 'css' as const, negativeSharing: 'user' as const },
      { loss: 'softmax' as const, split: 'shuffle' as const },
      { loss: 'bpr' as const, targetTypes: [1], inputTypes: [0, 1] },
    ]) {
      const base = { dim: 4, epochs: 3, negatives: 6, batchSize: 16, seed: 3, ...opts };
      const a = new LedModel();
      await a.fit(typed, base);
      const b = new LedModel();
      await b.fit(typed, { ...base, typeWeights: Float32Array.of(1, 1) });
      assert.deepEqual([...b.itemVectors().vectors], [...a.itemVectors().vectors], `${JSON.stringify(opts)}: vectors`);
      assert.deepEqual([...b.itemVectors().biases!], [...a.itemVectors().biases!], `${JSON.stringify(opts)}: biases`);
    }
    // Type 0 (items i % 10 < 5) weighs 0: those items are only ever pushed down as negatives.
    const m = new LedModel();
    await m.fit(typed, { loss: 'ns', dim: 4, epochs: 10, negatives: 10, batchSize: 16, lr: 0.05, seed: 3, typeWeights: [0, 1] });
    const bias = m.itemVectors().biases!;
    let zero = 0, one = 0;
    for (let i = 0; i < 30; i++) if (i % 10 < 5) zero += bias[i]; else one += bias[i];
    assert.ok(zero < one, `weight-0 items have lower biases (${zero / 15} vs ${one / 15})`);
    await assert.rejects(new LedModel().fit(typed, { typeWeights: [0, 0] }), /no user with enough events/);
    await assert.rejects(new LedModel().fit(typed, { typeWeights: [1, -1] }), /typeWeights\[1\] must be a finite number >= 0/);
    await assert.rejects(new LedModel().fit(data, { typeWeights: [1, 2] }), /typeWeights needs Timelines with types/);
  });

  it('CSS scales the sampled partition sum by (candidates − 1)/N', () => {
    const I = 6, d = 2;
    const base = Float32Array.from([0.1, 0.2, 0.3, -0.1, 0.5, 0.4, -0.2, 0.1, 0.0, 0.3, 0.2, -0.4]);
    const P = Float32Array.from([1, 0, 0, 1]);
    const bias = Float32Array.from([0.1, -0.2, 0.3, 0.0, 0.2, -0.1]);
    const dot = (u: number[], i: number) => u[0] * base[i * d] + u[1] * base[i * d + 1] + bias[i];
    const u = [base[0], base[1]]; // input [0]
    for (const candidates of [undefined, 4]) {
      const comp = new LedBatchGradients({ dim: d, numItems: I, base, P, bias, tuning: 'train', loss: 'css', maxBatch: 1, negatives: 2, candidates });
      const loss = comp.runLists([[0]], [[1]], Int32Array.from([3, 5]));
      const w = ((candidates ?? I) - 1) / 2;
      const sp = dot(u, 1);
      const expected = -sp + Math.log(Math.exp(sp) + w * (Math.exp(dot(u, 3)) + Math.exp(dot(u, 5))));
      assert.ok(Math.abs(loss - expected) < 1e-5, `candidates ${candidates}: ${loss} vs ${expected}`);
    }
  });

  it('per-user negatives equal to the shared ones give the shared loss and gradients', () => {
    const I = 9, d = 4;
    const rng = new SmallRng(5);
    const base = Float32Array.from({ length: I * d }, () => rng.normal() * 0.5);
    const P = Float32Array.from({ length: d * d }, (_, k) => (k % (d + 1) === 0 ? 1 : 0) + rng.normal() * 0.2);
    const bias = Float32Array.from({ length: I }, () => rng.normal() * 0.3);
    const shared = Int32Array.from([2, 7, 8]);
    const inputs = [[0, 1], [3, 4, 5], [6]];
    const targets = [[2, 3], [1], [0, 4]];
    for (const loss of ['bpr', 'ns', 'css'] as LedLoss[]) {
      for (const tuning of ['train', 'project'] as const) {
        const a = new LedBatchGradients({ dim: d, numItems: I, base, P, bias, tuning, loss, maxBatch: 3, negatives: 3 });
        const b = new LedBatchGradients({ dim: d, numItems: I, base, P, bias, tuning, loss, maxBatch: 3, negatives: 3, negativesPerUser: true });
        const la = a.runLists(inputs, targets, shared);
        const lb = b.runLists(inputs, targets, Int32Array.from([...shared, ...shared, ...shared]));
        assert.ok(Math.abs(la - lb) < 1e-5, `${loss}/${tuning} loss ${la} vs ${lb}`);
        const dense = (g: LedBatchGradients, w: number, sg: typeof g.gV) => {
          const out = new Float64Array(I * w);
          for (let s = 0; s < sg.count; s++) for (let j = 0; j < w; j++) out[sg.rows[s] * w + j] += sg.grad[s * w + j];
          return out;
        };
        const close = (x: ArrayLike<number>, y: ArrayLike<number>, what: string) => {
          for (let k = 0; k < x.length; k++) assert.ok(Math.abs(x[k] - y[k]) < 1e-5, `${loss}/${tuning} ${what}[${k}]: ${x[k]} vs ${y[k]}`);
        };
        close(dense(a, 1, a.gB), dense(b, 1, b.gB), 'bias');
        if (tuning === 'train') close(dense(a, d, a.gV), dense(b, d, b.gV), 'v');
        else close(a.gP, b.gP, 'P');
      }
    }
  });

  it('learns tastes: recommends items of the user’s block', async () => {
    const data = clustered(200, 60, 3, 8);
    const m = new LedModel();
    const rep = await m.fit(data, { dim: 8, epochs: 30, negatives: 20, batchSize: 32, lr: 0.05, seed: 2 });
    assert.equal(rep.kind, 'led');
    let hits = 0;
    for (let taste = 0; taste < 3; taste++) {
      const hist = Int32Array.from([taste * 20 + 1, taste * 20 + 5, taste * 20 + 9]);
      const rec = m.recommend(hist, 10);
      assert.ok(!rec.items.some((i) => hist.includes(i)), 'history items are not recommended');
      hits += [...rec.items].filter((i) => Math.floor(i / 20) === taste).length;
    }
    assert.ok(hits >= 27, `expected ≥ 27/30 in-taste recommendations, got ${hits}`);
  });

  it('serves the null history from the biases and respects exclusions', async () => {
    const m = LedModel.fromParameters(new Float32Array(4 * 2), Float32Array.from([0.1, 0.9, 0.5, -1]), 2);
    assert.deepEqual([...m.recommend(new Int32Array(0), 3).items], [1, 2, 0]);
    assert.deepEqual([...m.recommend(new Int32Array(0), 10, Int32Array.from([2])).items], [1, 0, 3]);
    assert.deepEqual([...m.encodeUser(new Int32Array(0))], [0, 0]);
  });

  it('trains with project fine-tuning from given vectors and with event-type roles', async () => {
    const data = clustered(120, 30, 3, 6, 4);
    const init = new Float32Array(30 * 3);
    for (let i = 0; i < 30; i++) init[i * 3 + Math.floor(i / 10)] = 1;
    const m = new LedModel();
    await m.fit(data, { initVectors: init, tuning: 'project', epochs: 10, negatives: 10, lr: 0.05, batchSize: 32 });
    const rec = m.recommend(Int32Array.from([0, 1, 2]), 5);
    assert.ok([...rec.items].every((i) => i < 10), `project mode keeps the taste structure: ${[...rec.items]}`);
    const typed = { ...data, types: new Uint16Array(data.items.length).map((_, p) => p % 2) };
    await new LedModel().fit(typed, { dim: 4, epochs: 2, inputTypes: [0], targetTypes: [1], negatives: 5 });
    await assert.rejects(new LedModel().fit(data, { tuning: 'project' }), /needs initVectors/);
  });

  it('keeps the best checkpoint on validation and stops early', async () => {
    const data = clustered(100, 30, 3, 6, 5);
    let calls = 0;
    const m = new LedModel();
    const rep = await m.fit(data, { dim: 4, epochs: 50, negatives: 5, validate: () => (++calls === 2 ? 1 : 0), patience: 3 });
    assert.equal(rep.metrics?.best_epoch, 2);
    assert.equal(calls, 5, 'stops after 3 validations without improvement');
  });

  it('saves and loads through the registry with identical scores', async () => {
    const data = clustered(60, 20, 2, 5, 6);
    const m = new LedModel();
    await m.fit(data, { dim: 4, epochs: 3, negatives: 5 });
    const dir = mkdtempSync(join(tmpdir(), 'funnel-led-'));
    try {
      await m.save(dir);
      const l = await loadModel(dir);
      const h = Int32Array.from([1, 3]);
      assert.deepEqual([...l.score(h)], [...m.score(h)]);
      assert.deepEqual([...l.recommend(h, 5).items], [...m.recommend(h, 5).items]);
      const batch = m.recommendBatch(timelinesFromArrays({ userIdx: [0, 0], itemIdx: [1, 3], numItems: 20 }), 5);
      assert.deepEqual([...batch.items.subarray(0, 5)], [...m.recommend(h, 5).items]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
