import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/math/rng.js';
import { AliasSampler, UniformSampler } from '../../src/math/samplers.js';

/** Pearson chi-square statistic of observed counts against probabilities (cells with p > 0). */
function chiSquare(counts: Int32Array, p: number[], n: number): number {
  let chi = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) chi += (counts[i] - n * p[i]) ** 2 / (n * p[i]);
  return chi;
}

describe('AliasSampler', () => {
  // counts^0.75 of [1, 16, 0, 81, 256, 0]: [1, 8, 0, 27, 64, 0], total 100.
  const counts = [1, 16, 0, 81, 256, 0];
  const expected = [0.01, 0.08, 0, 0.27, 0.64, 0];

  it('builds unigram^0.75 probabilities', () => {
    const s = AliasSampler.fromCounts(counts);
    for (let i = 0; i < counts.length; i++) assert.ok(Math.abs(s.probability(i) - expected[i]) < 1e-12);
    assert.equal(s.support, 4);
    assert.equal(s.size, 6);
  });

  it('draws with those frequencies (chi-square, seeded) and never a zero-weight item', () => {
    const s = AliasSampler.fromCounts(counts, 0.75);
    const rng = new Rng(2024);
    const n = 200_000;
    const out = s.sampleMany(rng, new Int32Array(n));
    const c = new Int32Array(6);
    for (const i of out) c[i]++;
    assert.equal(c[2], 0);
    assert.equal(c[5], 0);
    // 3 degrees of freedom: the 0.999 quantile is 16.27.
    assert.ok(chiSquare(c, expected, n) < 16.27, `chi2 ${chiSquare(c, expected, n)} counts ${Array.from(c)}`);
    // Same seed, same draws.
    assert.deepEqual(s.sampleMany(new Rng(2024), new Int32Array(100)), out.subarray(0, 100));
  });

  it('samples excluding items, renormalised', () => {
    const s = new AliasSampler([1, 2, 3, 4]);
    const rng = new Rng(5);
    const ex = new Set([3]);
    const c = new Int32Array(4);
    const n = 60_000;
    for (let q = 0; q < n; q++) c[s.sampleExcluding(rng, ex)]++;
    assert.equal(c[3], 0);
    assert.ok(chiSquare(c, [1 / 6, 2 / 6, 3 / 6, 0], n) < 13.82, `counts ${Array.from(c)}`); // 2 dof, 0.999
    // Mass almost all excluded: falls back to the exact draw.
    const heavy = new AliasSampler([1e-9, 1, 1, 1]);
    const mask = Uint8Array.of(0, 1, 1, 1);
    for (let q = 0; q < 5; q++) assert.equal(heavy.sampleExcluding(rng, mask), 0);
    assert.equal(s.sampleExcluding(rng, () => true), -1);
  });

  it('rejects bad weights', () => {
    assert.throws(() => new AliasSampler([]), /empty/);
    assert.throws(() => new AliasSampler([0, 0]), /all zero/);
    assert.throws(() => new AliasSampler([1, -1]), /weights\[1\]/);
    assert.throws(() => AliasSampler.fromCounts([1, NaN]), /counts\[1\]/);
  });
});

describe('UniformSampler', () => {
  it('is uniform over 0..n-1 or the candidates, with exclusions', () => {
    const rng = new Rng(11);
    const u = new UniformSampler(5);
    const c = new Int32Array(5);
    const n = 50_000;
    for (let q = 0; q < n; q++) c[u.sample(rng)]++;
    assert.ok(chiSquare(c, [0.2, 0.2, 0.2, 0.2, 0.2], n) < 18.47); // 4 dof, 0.999
    const cand = new UniformSampler(Int32Array.of(10, 20, 30));
    for (let q = 0; q < 100; q++) assert.ok([10, 20].includes(cand.sampleExcluding(rng, new Set([30]))));
    assert.equal(cand.sampleExcluding(rng, new Set([10, 20, 30])), -1);
    assert.equal(cand.probability(20), 1 / 3);
    assert.throws(() => new UniformSampler(0), /population/);
  });
});
