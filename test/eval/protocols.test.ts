import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaveOneOutSampled, preprocess, strongGeneralization, temporalSplit } from '../../src/eval/protocols.js';
import { numEvents, selectUsers, timelinesFromArrays, userItems } from '../../src/models/retrieval/types.js';
import { rows, syntheticRatings } from './fixtures.js';

const data = syntheticRatings(80, 60, 7);

function sorted(a: ArrayLike<number>): number[] {
  return Array.from(a).sort((x, y) => x - y);
}

describe('preprocess', () => {
  const t = timelinesFromArrays({
    userIdx: [0, 0, 0, 0, 1, 1, 2, 2, 2],
    itemIdx: [1, 2, 1, 3, 4, 5, 1, 2, 3],
    value: [4, 3.5, 5, 3.6, 5, 5, NaN, 4, 4],
    timestamp: [1, 2, 3, 4, 1, 2, 1, 2, 3],
  });
  it('valueAbove is strict, drops missing values, and dedupe keeps the first event', () => {
    const p = preprocess(t, { valueAbove: 3.5 });
    assert.deepEqual(rows(p), [[1, 3], [4, 5], [2, 3]]); // 3.5 dropped, second item 1 of user 0 dropped, NaN dropped
    assert.deepEqual(Array.from(p.values!), Array.from(Float32Array.of(4, 3.6, 5, 5, 4, 4)));
  });
  it('minValue is inclusive; dedupe can be turned off', () => {
    assert.deepEqual(rows(preprocess(t, { minValue: 3.5, dedupe: false })), [[1, 2, 1, 3], [4, 5], [2, 3]]);
  });
  it('minUserEvents applies after the value filter', () => {
    assert.deepEqual(rows(preprocess(t, { valueAbove: 3.5, minUserEvents: 2 })), [[1, 3], [4, 5], [2, 3]]);
    assert.deepEqual(rows(preprocess(t, { minValue: 4, minUserEvents: 3 })), [[], [], []]);
    assert.deepEqual(rows(preprocess(t, { minUserEvents: 3 })), [[1, 2, 3], [], [1, 2, 3]]);
  });
  it('a value filter on data without values is an error', () => {
    assert.throws(() => preprocess({ ...t, values: undefined }, { valueAbove: 3 }), /needs values/);
  });
});

describe('strong generalization (Mult-VAE protocol)', () => {
  const split = strongGeneralization(data, { validationUsers: 10, testUsers: 12, seed: 3 });
  const clean = preprocess(data, { valueAbove: 3.5, minUserEvents: 5 });

  it('puts no user in two splits and covers every user that passes the filters', () => {
    const all = [...split.trainUsers, ...split.validation.users, ...split.test.users];
    assert.equal(new Set(all).size, all.length);
    const eligible: number[] = [];
    for (let u = 0; u < clean.numUsers; u++) if (clean.indptr[u + 1] - clean.indptr[u] >= 5) eligible.push(u);
    assert.deepEqual(sorted(all), eligible);
    assert.equal(split.validation.users.length, 10);
    assert.equal(split.test.users.length, 12);
    assert.equal(split.train.numUsers, eligible.length - 22);
  });

  it('trains on the filtered, binarized timelines of training users only', () => {
    assert.deepEqual(rows(split.train), rows(selectUsers(clean, split.trainUsers)));
    for (const v of split.train.values!) assert.ok(v > 3.5);
    for (let r = 0; r < split.train.numUsers; r++) {
      const it = userItems(split.train, r);
      assert.ok(it.length >= 5);
      assert.equal(new Set(it).size, it.length);
    }
  });

  it('splits each held-out user 80/20: target = max(1, floor(0.2 n)), union = the user\'s events on training items', () => {
    const inTrain = new Set(split.train.items);
    for (const h of [split.validation, split.test]) {
      for (let r = 0; r < h.users.length; r++) {
        const own = Array.from(userItems(clean, h.users[r])).filter((i) => inTrain.has(i));
        const f = Array.from(userItems(h.foldIn, r));
        const g = Array.from(userItems(h.target, r));
        assert.deepEqual(sorted([...f, ...g]), sorted(own));
        if (own.length >= 5) {
          assert.equal(g.length, Math.max(1, Math.floor(0.2 * own.length)));
          assert.equal(f.length, own.length - g.length);
        } else assert.equal(g.length, 0);
        for (const i of g) assert.ok(inTrain.has(i), 'targets only on training items');
        // Fold-in keeps time order.
        const ts = h.foldIn.timestamps!.subarray(h.foldIn.indptr[r], h.foldIn.indptr[r + 1]);
        for (let q = 1; q < ts.length; q++) assert.ok(ts[q] >= ts[q - 1]);
      }
    }
    assert.equal(split.stats.test.targetEvents, numEvents(split.test.target));
  });

  it('is deterministic for a seed and changes with it', () => {
    const again = strongGeneralization(data, { validationUsers: 10, testUsers: 12, seed: 3 });
    assert.deepEqual(again.test.users, split.test.users);
    assert.deepEqual(again.test.target.items, split.test.target.items);
    assert.deepEqual(again.validation.foldIn.items, split.validation.foldIn.items);
    const other = strongGeneralization(data, { validationUsers: 10, testUsers: 12, seed: 4 });
    assert.notDeepEqual(Array.from(other.test.users), Array.from(split.test.users));
  });

  it("targetSelection 'last' holds out the most recent events", () => {
    const s = strongGeneralization(data, { validationUsers: 5, testUsers: 5, seed: 3, targetSelection: 'last' });
    for (let r = 0; r < s.test.users.length; r++) {
      const f = s.test.foldIn.timestamps!.subarray(s.test.foldIn.indptr[r], s.test.foldIn.indptr[r + 1]);
      const g = s.test.target.timestamps!.subarray(s.test.target.indptr[r], s.test.target.indptr[r + 1]);
      if (g.length) assert.ok(Math.max(...f) <= Math.min(...g));
    }
  });

  it('refuses more held-out users than there are', () => {
    assert.throws(() => strongGeneralization(data, { validationUsers: 40, testUsers: 40 }), /held-out users requested/);
  });

  it('the value filter can be disabled explicitly', () => {
    const s = strongGeneralization(data, { valueAbove: undefined, validationUsers: 5, testUsers: 5 });
    assert.ok(Array.from(s.train.values!).some((v) => v <= 3.5));
  });
});

describe('temporal split', () => {
  it('holds out the last n events; validation users are out of training', () => {
    const s = temporalSplit(data, { lastN: 2, validationUsers: 8, seed: 1 });
    const clean = preprocess(data, { minUserEvents: 2 });
    const train = new Set(s.trainUsers);
    for (const u of s.validation.users) assert.ok(!train.has(u));
    assert.equal(s.validation.users.length, 8);
    for (const u of s.test.users) assert.ok(!new Set(s.validation.users).has(u));
    const inTrain = new Set(s.train.items);
    for (let r = 0; r < s.test.users.length; r++) {
      const own = Array.from(userItems(clean, s.test.users[r]));
      assert.deepEqual(Array.from(userItems(s.test.foldIn, r)), own.slice(0, own.length - 2));
      assert.deepEqual(Array.from(userItems(s.test.target, r)), own.slice(own.length - 2).filter((i) => inTrain.has(i)));
    }
    // Training = prefixes: no user's last two events.
    for (let r = 0; r < s.train.numUsers; r++) {
      const own = Array.from(userItems(clean, s.trainUsers[r]));
      assert.deepEqual(Array.from(userItems(s.train, r)), own.slice(0, own.length - 2));
    }
  });

  it('lastDays holds out each user\'s final days', () => {
    const s = temporalSplit(data, { lastDays: 3, validationUsers: 0, testUsers: 10, seed: 1 });
    assert.equal(s.test.users.length, 10);
    for (let r = 0; r < 10; r++) {
      const g = s.test.target.timestamps!.subarray(s.test.target.indptr[r], s.test.target.indptr[r + 1]);
      const f = s.test.foldIn.timestamps!.subarray(s.test.foldIn.indptr[r], s.test.foldIn.indptr[r + 1]);
      const last = Math.max(...f, ...g);
      for (const t of g) assert.ok(t > last - 3 * 86_400_000);
      for (const t of f) assert.ok(t <= last - 3 * 86_400_000);
    }
  });

  it('needs exactly one of lastN / lastDays', () => {
    assert.throws(() => temporalSplit(data, {}), /exactly one/);
  });
});

describe('leave-one-out with sampled negatives (legacy)', () => {
  const s = leaveOneOutSampled(data, { negatives: 20, seed: 5 });
  it('targets the last event (test) and the one before (validation), trains on the rest', () => {
    const clean = preprocess(data, { minUserEvents: 3 });
    for (let r = 0; r < s.test.users.length; r++) {
      const own = Array.from(userItems(clean, s.test.users[r]));
      assert.deepEqual(Array.from(userItems(s.test.target, r)), [own[own.length - 1]]);
      assert.deepEqual(Array.from(userItems(s.validation.target, r)), [own[own.length - 2]]);
      assert.deepEqual(Array.from(userItems(s.train, r)), own.slice(0, -2));
      assert.deepEqual(Array.from(userItems(s.test.foldIn, r)), own.slice(0, -1));
    }
  });
  it('samples negatives outside the user\'s timeline, with the target among the candidates', () => {
    const clean = preprocess(data, { minUserEvents: 3 });
    for (let r = 0; r < s.test.users.length; r++) {
      const own = new Set(userItems(clean, s.test.users[r]));
      const cand = Array.from(userItems(s.test.candidates!, r));
      const tgt = userItems(s.test.target, r)[0];
      assert.ok(cand.includes(tgt));
      assert.equal(new Set(cand).size, cand.length);
      assert.equal(cand.filter((i) => own.has(i)).length, 1);
      assert.ok(cand.length <= 21);
    }
    assert.match(String(s.params.warning), /older papers/);
  });
});

