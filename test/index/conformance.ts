/**
 * The VectorIndex conformance suite: every implementation (exact, HNSW) runs these tests
 * unchanged. Answers are checked against a brute-force reference computed here in float64;
 * an approximate implementation (`exact: false`) must match on small catalogues (where it may
 * answer exactly) and reach a high recall on the medium one, which exercises its graph.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SearchFilter, VectorIndex } from '../../src/index/types.js';
import { SmallRng } from '../../src/models/retrieval/types.js';

export interface IndexHarness {
  /** Whether answers must equal the brute-force reference everywhere. */
  exact: boolean;
  build(vectors: Float32Array, biases: Float32Array, dim: number, ids?: ArrayLike<number>): VectorIndex;
  load(dir: string): Promise<VectorIndex>;
}

/** Brute-force reference: ids best first, ties by the lower id. */
export function reference(vectors: Float32Array, biases: Float32Array, dim: number, query: Float32Array, k: number, ok: (id: number) => boolean = () => true, ids?: ArrayLike<number>): number[] {
  const n = biases.length;
  const all: { id: number; s: number }[] = [];
  for (let p = 0; p < n; p++) {
    const id = ids ? ids[p] : p;
    if (!ok(id)) continue;
    let s = biases[p];
    for (let j = 0; j < dim; j++) s += query[j] * vectors[p * dim + j];
    all.push({ id, s: Math.fround(s) });
  }
  all.sort((a, b) => b.s - a.s || a.id - b.id);
  return all.slice(0, k).map((x) => x.id);
}

function randomSet(n: number, d: number, seed: number): { vectors: Float32Array; biases: Float32Array } {
  const rng = new SmallRng(seed);
  const vectors = Float32Array.from({ length: n * d }, () => rng.normal());
  const biases = Float32Array.from({ length: n }, () => rng.normal() * 0.5);
  return { vectors, biases };
}

function recall(got: ArrayLike<number>, want: number[]): number {
  const w = new Set(want);
  let hit = 0;
  for (let p = 0; p < got.length; p++) if (w.has(got[p])) hit++;
  return want.length === 0 ? 1 : hit / want.length;
}

const q = (...x: number[]) => Float32Array.from(x);

export function indexConformance(name: string, h: IndexHarness): void {
  const dir = mkdtempSync(join(tmpdir(), `funnel-index-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe(`VectorIndex conformance: ${name}`, () => {
    // Four items in 2-D: known answers worked out by hand.
    //   id 0: (1, 0) b 0     id 1: (0, 1) b 0     id 2: (1, 1) b -1.5     id 3: (-1, 0) b 0.5
    const V = q(1, 0, 0, 1, 1, 1, -1, 0);
    const B = q(0, 0, -1.5, 0.5);

    it('returns the top k by ⟨u, v⟩ + b, best first, with exact scores', () => {
      const idx = h.build(V, B, 2);
      assert.equal(idx.size, 4);
      assert.equal(idx.dim, 2);
      const r = idx.search(q(2, 1), 4);
      // scores: 0 → 2, 1 → 1, 2 → 3 - 1.5 = 1.5, 3 → -2 + 0.5 = -1.5
      assert.deepEqual(Array.from(r.ids), [0, 2, 1, 3]);
      assert.deepEqual(Array.from(r.scores), [2, 1.5, 1, -1.5]);
      assert.deepEqual(Array.from(idx.search(q(0, 3), 2).ids), [1, 2]);
    });

    it('handles the bias: the null query ranks by bias, ties by the lower id', () => {
      const idx = h.build(V, B, 2);
      assert.deepEqual(Array.from(idx.search(q(0, 0), 4).ids), [3, 0, 1, 2]);
      const same = h.build(q(1, 1, 1, 1, 1, 1), q(0, 0.25, 0), 2);
      assert.deepEqual(Array.from(same.search(q(1, 0), 3).ids), [1, 0, 2]);
    });

    it('honours exclude, allow, availability and removal; upsert adds and replaces', () => {
      const idx = h.build(V, B, 2);
      const u = q(2, 1);
      assert.deepEqual(Array.from(idx.search(u, 2, { exclude: new Set([0]) }).ids), [2, 1]);
      assert.deepEqual(Array.from(idx.search(u, 4, { allow: (i) => i % 2 === 1 }).ids), [1, 3]);
      assert.deepEqual(Array.from(idx.search(u, 4, { mask: Uint8Array.of(0, 1, 1) }).ids), [2, 1], 'mask: 1 servable, 0 or beyond it not');
      idx.setAvailable([2], false);
      assert.equal(idx.size, 3);
      assert.equal(idx.has(2), false);
      assert.deepEqual(Array.from(idx.search(u, 4).ids), [0, 1, 3]);
      idx.setAvailable([2], true);
      assert.deepEqual(Array.from(idx.search(u, 4).ids), [0, 2, 1, 3]);
      idx.remove([0, 99]);
      assert.equal(idx.size, 3);
      assert.deepEqual(Array.from(idx.search(u, 4).ids), [2, 1, 3]);
      idx.upsert([0, 7], q(0, 0, 5, 5), q(-10, 0));
      assert.equal(idx.size, 5);
      assert.deepEqual(Array.from(idx.search(u, 2).ids), [7, 2]);
      assert.deepEqual(Array.from(idx.search(u, 5).ids), [7, 2, 1, 3, 0]);
      // A replaced item with a much longer vector than any built one is still found.
      idx.upsert([1], q(0, 100), q(0));
      assert.deepEqual(Array.from(idx.search(q(0, 1), 1).ids), [1]);
    });

    it('survives a save/load round trip with the same answers', async () => {
      const { vectors, biases } = randomSet(500, 6, 11);
      const idx = h.build(vectors, biases, 6);
      idx.setAvailable([3, 4], false);
      idx.remove([5]);
      const queries = Array.from({ length: 10 }, (_, t) => randomSet(1, 6, 100 + t).vectors);
      const before = queries.map((x) => idx.search(x, 20));
      const path = join(dir, 'round-trip');
      await idx.save(path);
      const back = await h.load(path);
      assert.equal(back.kind, idx.kind);
      assert.equal(back.size, 497);
      assert.equal(back.dim, 6);
      queries.forEach((x, t) => {
        const r = back.search(x, 20);
        assert.deepEqual(Array.from(r.ids), Array.from(before[t].ids));
        assert.deepEqual(Array.from(r.scores), Array.from(before[t].scores));
        for (const id of [3, 4, 5]) assert.ok(!r.ids.includes(id));
      });
      assert.ok(back.memoryBytes() > 0);
      await assert.rejects(h.load(join(dir, 'nothing-here')), /index\.json/);
    });

    it('serves an empty index, k = 0 and k larger than the index', () => {
      const empty = h.build(new Float32Array(0), new Float32Array(0), 3);
      assert.equal(empty.size, 0);
      assert.equal(empty.search(q(1, 2, 3), 10).ids.length, 0);
      const idx = h.build(V, B, 2);
      assert.equal(idx.search(q(1, 1), 0).ids.length, 0);
      const r = idx.search(q(2, 1), 1000);
      assert.deepEqual(Array.from(r.ids), [0, 2, 1, 3]);
      assert.deepEqual(Array.from(idx.search(q(2, 1), 1000, { exclude: new Set([0, 1, 2, 3]) }).ids), []);
    });

    it('keeps given ids that are sparse and not in order', () => {
      const ids = [40, 3, 17];
      const idx = h.build(q(1, 0, 0, 1, 1, 1), q(0, 0, 0), 2, ids);
      assert.deepEqual(Array.from(idx.search(q(1, 0.5), 3).ids), [17, 40, 3]);
      assert.equal(idx.has(40), true);
      assert.equal(idx.has(0), false);
    });

    it('rejects bad input with clear errors', () => {
      const idx = h.build(V, B, 2);
      assert.throws(() => idx.search(q(1, 2, 3), 2), /query has 3 values.*dimension 2/);
      assert.throws(() => idx.search(q(1, NaN), 2), /non-finite/);
      assert.throws(() => idx.search(q(1, 1), -1), /k must be an integer/);
      assert.throws(() => idx.search(q(1, 1), 1.5), /k must be an integer/);
      assert.throws(() => idx.search([1, 1] as unknown as Float32Array, 1), /Float32Array/);
      assert.throws(() => h.build(q(1, 2, 3), q(0, 0), 2), /3 vector values .* 2 biases/);
      assert.throws(() => h.build(q(1, 2), q(0, 0), 2), /2 biases/);
      assert.throws(() => h.build(q(1, 2, 3, 4), q(0), 2), /1 biases/);
      assert.throws(() => h.build(q(1, 2, 3, 4), q(0, 0), 2, [0]), /1 ids need 1×2 = 2 vector values, got 4/);
      assert.throws(() => h.build(q(1, Infinity), q(0), 2), /non-finite/);
      assert.throws(() => h.build(q(1, 2), q(0), 0), /dim must be a positive integer/);
      assert.throws(() => idx.upsert([-1], q(1, 1), q(0)), /ids are integers/);
      assert.throws(() => idx.upsert([1], q(1, 1), q(NaN)), /non-finite bias/);
    });

    it(`finds the top-k of a medium catalogue${h.exact ? ' exactly' : ' with high recall'}, filters included`, () => {
      const n = 4000;
      const d = 8;
      const { vectors, biases } = randomSet(n, d, 5);
      const idx = h.build(vectors, biases, d);
      const queries = Array.from({ length: 30 }, (_, t) => randomSet(1, d, 1000 + t).vectors);
      const cases: { k: number; filter?: SearchFilter; ok?: (id: number) => boolean }[] = [
        { k: 10 },
        { k: 50 },
        { k: 10, filter: { exclude: new Set([...Array(200).keys()]) }, ok: (i) => i >= 200 },
        { k: 10, filter: { allow: (i) => i % 3 === 0 }, ok: (i) => i % 3 === 0 },
        // Selective filter: 40 items pass; the graph alone cannot find them all.
        { k: 20, filter: { allow: (i) => i % 100 === 7 }, ok: (i) => i % 100 === 7 },
        { k: 50, filter: { allow: (i) => i % 100 === 7 }, ok: (i) => i % 100 === 7 },
        // A byte mask (availability), alone, with a predicate, and selective; items beyond it are out.
        { k: 10, filter: { mask: Uint8Array.from({ length: n }, (_, i) => (i % 4 === 1 ? 1 : 0)) }, ok: (i) => i % 4 === 1 },
        { k: 10, filter: { mask: Uint8Array.from({ length: n }, (_, i) => (i % 2 ? 1 : 0)), allow: (i) => i % 3 === 0 }, ok: (i) => i % 2 === 1 && i % 3 === 0 },
        { k: 30, filter: { mask: Uint8Array.from({ length: n }, (_, i) => (i % 100 === 7 ? 1 : 0)) }, ok: (i) => i % 100 === 7 },
        { k: 10, filter: { mask: new Uint8Array(n / 2).fill(1) }, ok: (i) => i < n / 2 },
      ];
      for (const c of cases) {
        let sum = 0;
        for (const x of queries) {
          const want = reference(vectors, biases, d, x, c.k, c.ok);
          const got = idx.search(x, c.k, c.filter);
          if (c.ok) assert.ok(Array.from(got.ids).every(c.ok), 'filter honoured');
          for (let p = 1; p < got.scores.length; p++) assert.ok(got.scores[p - 1] >= got.scores[p], 'best first');
          if (h.exact) assert.deepEqual(Array.from(got.ids), want);
          else assert.equal(got.ids.length, want.length, 'as many items as pass the filter (up to k)');
          sum += recall(got.ids, want);
        }
        const mean = sum / queries.length;
        assert.ok(mean >= (h.exact ? 1 : 0.95), `k=${c.k} ${c.filter ? JSON.stringify(Object.keys(c.filter)) : ''}: recall ${mean}`);
      }
    });
  });
}
