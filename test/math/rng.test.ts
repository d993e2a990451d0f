import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Mulberry32, Rng } from '../../src/math/rng.js';
import { SmallRng } from '../../src/models/retrieval/types.js';

describe('Rng (xoshiro128**)', () => {
  it('matches the reference implementation from a given state', () => {
    // xoshiro128starstar.c (Blackman & Vigna) from s = {1, 2, 3, 4}.
    const r = Rng.fromState([1, 2, 3, 4]);
    assert.deepEqual(Array.from({ length: 10 }, () => r.nextU32()),
      [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804]);
    const s = Rng.fromState([0x964d4a0c, 0xd40ab895, 0xad7fdecb, 0x3006f0f0]);
    assert.deepEqual([s.nextU32(), s.nextU32(), s.nextU32(), s.nextU32()], [0xf1391922, 0x6fe53806, 0xa5be2840, 0xf510ee70]);
    assert.deepEqual(s.state(), [0xfc65379c, 0x52006d70, 0x87487639, 0xf1908343]);
  });

  it('is reproducible from a seed, and seeds differ', () => {
    const draw = (r: Rng) => [r.nextU32(), r.nextFloat(), r.nextInt(1000), r.normal(), r.nextFloat53()];
    assert.deepEqual(draw(new Rng(42)), draw(new Rng(42)));
    assert.notDeepEqual(draw(new Rng(42)), draw(new Rng(43)));
    assert.notDeepEqual(draw(new Rng(2 ** 40)), draw(new Rng(0)));
    // Forks are reproducible too, and independent of the parent's later draws.
    const a = new Rng(7).fork();
    const b = new Rng(7).fork();
    assert.equal(a.nextU32(), b.nextU32());
    // state() / fromState() resume the sequence.
    const r = new Rng(9);
    r.nextU32();
    const c = Rng.fromState(r.state());
    assert.deepEqual([r.nextU32(), r.nextU32()], [c.nextU32(), c.nextU32()]);
  });

  it('draws in range with the right moments', () => {
    const r = new Rng(1);
    const n = 200_000;
    let sum = 0;
    let sq = 0;
    let fsum = 0;
    const counts = new Int32Array(7);
    for (let i = 0; i < n; i++) {
      const f = r.nextFloat();
      assert.ok(f >= 0 && f < 1);
      fsum += f;
      const k = r.nextInt(7);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
      counts[k]++;
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    assert.ok(Math.abs(fsum / n - 0.5) < 0.005);
    assert.ok(Math.abs(sum / n) < 0.01, `normal mean ${sum / n}`);
    assert.ok(Math.abs(sq / n - 1) < 0.02, `normal variance ${sq / n}`);
    // Chi-square of nextInt(7) with 6 degrees of freedom: 22.46 is the 0.999 quantile.
    const e = n / 7;
    const chi2 = Array.from(counts).reduce((s, c) => s + (c - e) ** 2 / e, 0);
    assert.ok(chi2 < 22.46, `chi2 ${chi2}`);
    // Large n takes 53-bit floats.
    const big = r.nextInt(2 ** 40);
    assert.ok(big >= 0 && big < 2 ** 40 && Number.isInteger(big));
  });

  it('shuffles into a permutation, reproducibly', () => {
    const a = Int32Array.from({ length: 50 }, (_, i) => i);
    const b = a.slice();
    new Rng(3).shuffle(a);
    new Rng(3).shuffle(b);
    assert.deepEqual(a, b);
    assert.notDeepEqual(Array.from(a), Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(Array.from(a).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
    const head = [0, 1, 2, 3, 4, 5];
    new Rng(4).shuffle(head, 2); // a random 2-subset in front
    assert.deepEqual([...head].sort(), [0, 1, 2, 3, 4, 5]);
  });

  it('rejects bad arguments with a RangeError naming them', () => {
    const r = new Rng(1);
    assert.throws(() => r.nextInt(0), /nextInt: n/);
    assert.throws(() => r.nextInt(2.5), RangeError);
    assert.throws(() => new Rng(NaN), /seed/);
    assert.throws(() => r.shuffle([1, 2], 3), /count/);
    assert.throws(() => Rng.fromState([0, 0, 0, 0]), /all-zero/);
  });
});

describe('Mulberry32 / SmallRng', () => {
  it('keeps the exact sequence of the earlier SmallRng', () => {
    // Values of the mulberry32 SmallRng before src/math/rng.ts existed (seed 42).
    const r = new SmallRng(42);
    assert.deepEqual([r.next(), r.next(), r.int(1000), r.normal()], [0.4813160905614495, 0.9852536325342953, 737, -0.28421348790145684]);
    const m = new Mulberry32(42);
    assert.equal(m.nextFloat(), 0.4813160905614495);
    assert.ok(new SmallRng(1) instanceof Mulberry32);
  });
});
