import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IsotonicRegression, PlattScaling, calibratorFromJSON, fitCalibrator, reliability } from '../../src/rank/calibration.js';
import { rng } from './helpers.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} ≠ ${b}`);

/** True probabilities, their Bernoulli labels, and a distorted score p³. */
function distorted(n: number, seed: number) {
  const r = rng(seed);
  const p = Float64Array.from({ length: n }, () => 0.02 + 0.96 * r());
  const y = Float64Array.from(p, (v) => (r() < v ? 1 : 0));
  const s = Float64Array.from(p, (v) => v ** 3);
  return { p, y, s };
}

describe('calibration', () => {
  it('computes the reliability table and ECE by hand', () => {
    const rel = reliability([0.05, 0.15, 0.12, 0.95], [0, 1, 0, 1], 10);
    close(rel.ece, (0.05 + 2 * 0.365 + 0.05) / 4);
    close(rel.mce, 0.365);
    assert.equal(rel.bins[1].count, 2);
    close(rel.bins[1].meanPredicted, 0.135);
    close(rel.bins[1].observedRate, 0.5);
    assert.ok(Number.isNaN(rel.bins[5].meanPredicted));
  });

  it('fits isotonic regression by pool-adjacent-violators', () => {
    const iso = IsotonicRegression.fit([1, 2, 3, 4], [1, 0, 1, 1]);
    assert.deepEqual(Array.from(iso.x), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(iso.y), [0.5, 0.5, 1, 1]);
    close(iso.map(2.5), 0.75);
    close(iso.map(0), 0.5);
    close(iso.map(9), 1);
  });

  for (const method of ['isotonic', 'platt'] as const) {
    it(`${method}: a monotone map that lowers the ECE of a distorted score (p³)`, () => {
      const fit = distorted(20_000, 1);
      const test = distorted(20_000, 2);
      const cal = fitCalibrator(method, fit.s, fit.y);
      // monotone over a fine grid
      let prev = -Infinity;
      for (let k = 0; k <= 1000; k++) {
        const v = cal.map(k / 1000);
        assert.ok(v >= prev - 1e-12, `${method} decreases at ${k / 1000}`);
        prev = v;
      }
      const raw = reliability(test.s, test.y).ece;
      const after = reliability(Float64Array.from(test.s, (v) => cal.map(v)), test.y).ece;
      assert.ok(raw > 0.15, `raw ECE ${raw}`);
      assert.ok(after < raw / 3, `${method}: ECE ${raw} → ${after}`);
      if (method === 'isotonic') assert.ok(after < 0.03, `isotonic ECE ${after}`);
      // JSON round trip
      const back = calibratorFromJSON(JSON.parse(JSON.stringify(cal.toJSON())));
      for (const v of [0.001, 0.2, 0.5, 0.9]) close(back.map(v), cal.map(v));
    });
  }

  it('Platt recovers a known logistic distortion', () => {
    // scores s with true P(y=1|s) = σ(2·logit(s) − 1)
    const r = rng(5);
    const s = Float64Array.from({ length: 40_000 }, () => 0.05 + 0.9 * r());
    const y = Float64Array.from(s, (v) => (r() < 1 / (1 + Math.exp(-(2 * Math.log(v / (1 - v)) - 1))) ? 1 : 0));
    const pl = PlattScaling.fit(s, y);
    assert.ok(Math.abs(pl.a - 2) < 0.15 && Math.abs(pl.b + 1) < 0.1, `a=${pl.a}, b=${pl.b}`);
  });

  it('refuses bad inputs', () => {
    assert.throws(() => fitCalibrator('isotonic', [], []), RangeError);
    assert.throws(() => fitCalibrator('platt', [0.1], [1, 0]), /probs has 1 entries, labels 2/);
    assert.throws(() => fitCalibrator('magic' as never, [0.1], [1]), /method/);
    assert.throws(() => reliability([0.1], [1], 0), /bins/);
  });
});
