import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSources, encodeProvenance, encodeSources, provenanceSources, type SourceEntry } from '../../src/data/provenance.js';

describe('provenance', () => {
  it('a block gives back, per position, exactly the encodeSources strings', () => {
    let seed = 3;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const names = ['led', 'itemknn', 'popular', 'fresh', 'généré ✓'];
    const scores = [0, -0, 1.5, 0.1, 1 / 3, -2.75e-9, 123456789.123, Math.fround(0.7), NaN, Infinity, -Infinity, 5e-324];
    for (let r = 0; r < 200; r++) {
      const n = rnd(25);
      const positions: SourceEntry[][] = Array.from({ length: n }, () =>
        Array.from({ length: rnd(4) }, () => ({ generator: names[rnd(names.length)], rank: rnd(5) === 0 ? 0xffffffff : rnd(1000), score: rnd(3) ? scores[rnd(scores.length)] : rnd(1e6) / 7 })),
      );
      const block = encodeProvenance(positions);
      if (positions.every((p) => p.length === 0)) {
        assert.equal(block, null);
        continue;
      }
      assert.ok(block instanceof Uint8Array);
      assert.deepEqual(provenanceSources(block, n), positions.map((p) => encodeSources(p)));
    }
    assert.equal(encodeProvenance([]), null);
  });

  it('encodeSources writes name:rank:score parts that decodeSources reads back', () => {
    const s = encodeSources([{ generator: 'led', rank: 3, score: 1 / 3 }, { generator: 'popular', rank: 0, score: NaN }]);
    assert.equal(s, 'led:3:0.3333333|popular:0:0');
    assert.deepEqual(decodeSources(s), [{ generator: 'led', rank: 3, score: 0.3333333 }, { generator: 'popular', rank: 0, score: 0 }]);
    assert.equal(decodeSources(''), undefined);
  });

  it('refuses what it cannot encode, and malformed blocks', () => {
    assert.throws(() => encodeProvenance([[{ generator: 'led', rank: -1, score: 0 }]]), /rank must be an integer/);
    assert.throws(() => encodeProvenance([[{ generator: 'led', rank: 1.5, score: 0 }]]), /rank must be an integer/);
    assert.throws(() => encodeProvenance([[{ generator: 'x'.repeat(256), rank: 0, score: 0 }]]), /longer than 255 bytes/);
    const block = encodeProvenance([[{ generator: 'led', rank: 1, score: 2 }], []])!;
    assert.deepEqual(provenanceSources(block, 2), ['led:1:2', '']);
    assert.throws(() => provenanceSources(block, 3), /malformed/, 'more positions than the block has');
    assert.throws(() => provenanceSources(block, 1), /malformed/, 'bytes left over');
    assert.throws(() => provenanceSources(block.subarray(0, block.length - 1), 2), /malformed/);
    assert.throws(() => provenanceSources(new Uint8Array(0), 0), /malformed/);
  });
});
