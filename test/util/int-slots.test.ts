import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IntSlots } from '../../src/util/int-slots.js';

describe('IntSlots', () => {
  it('gives each key one stable slot until reset, flagging first sight, at any size', () => {
    const t = new IntSlots();
    let seed = 1;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    for (const n of [10, 700, 5000, 40]) {
      t.reset(n);
      assert.ok(t.capacity >= 2 * n && t.capacity <= 8 * Math.max(n, 512));
      const seen = new Map<number, number>();
      for (let e = 0; e < 3 * n; e++) {
        const key = rnd(Math.max(2, n)) * 7919; // collide in the hash's low bits too
        const s = t.slot(key);
        if (seen.has(key)) assert.equal(s, seen.get(key));
        else {
          assert.ok(s < 0, 'first sight is negative');
          assert.ok(!([...seen.values()].includes(~s)), 'a new key gets a free slot');
          seen.set(key, ~s);
        }
      }
      assert.ok(seen.size <= n);
    }
    t.reset(5);
    assert.ok(t.slot(42) < 0, 'reset forgets the keys');
  });
});
