import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hnswUnavailable, newGraph, type HnswGraph } from '../../src/index/graph.js';
import { SmallRng } from '../../src/models/retrieval/types.js';
import { hugeAdvised, mappedPages } from '../helpers/mapped-pages.js';

/** n random rows of dim floats. */
function rows(n: number, dim: number, seed: number): Float32Array[] {
  const rng = new SmallRng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => rng.next() * 2 - 1));
}

function l2(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return s;
}

/** Labels of the k nearest rows by brute force (ties by the lower label). */
function bruteForce(data: Float32Array[], q: Float32Array, k: number, skip?: (label: number) => boolean): number[] {
  return data
    .map((v, i) => ({ i, d: l2(q, v) }))
    .filter((x) => !skip?.(x.i))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, k)
    .map((x) => x.i);
}

describe('HnswGraph (vendored hnswlib in the native addon)', { skip: hnswUnavailable() ?? false }, () => {
  const dim = 18; // not a multiple of the SIMD width: the residual loop runs too
  const data = rows(600, dim, 1);
  const queries = rows(20, dim, 2);
  const build = () => {
    const g = newGraph(dim);
    g.initIndex(data.length, 8, 100, 100);
    data.forEach((v, i) => g.addPoint(v, i));
    return g;
  };
  /** The same top 10 (labels and distances) from both graphs for every query. */
  const sameAnswers = (want: HnswGraph, got: HnswGraph) => {
    const a = new Int32Array(10);
    const b = new Int32Array(10);
    const va = new Float32Array(10);
    const vb = new Float32Array(10);
    for (const q of queries) {
      want.search(q, 10, a, va);
      got.search(q, 10, b, vb);
      assert.deepEqual(Array.from(b), Array.from(a));
      assert.deepEqual(Array.from(vb), Array.from(va));
    }
  };

  it('finds the exact k nearest at a breadth covering the graph, nearest first, with their distances', () => {
    const g = build();
    assert.equal(g.getCurrentCount(), 600);
    g.setEf(600);
    const labels = new Int32Array(10);
    const dist = new Float32Array(10);
    for (const q of queries) {
      assert.equal(g.search(q, 10, labels, dist), 10);
      assert.deepEqual(Array.from(labels), bruteForce(data, q, 10));
      for (let p = 0; p < 10; p++) {
        assert.ok(Math.abs(dist[p] - l2(q, data[labels[p]])) < 1e-4, 'distance is the squared L2');
        if (p > 0) assert.ok(dist[p] >= dist[p - 1], 'nearest first');
      }
    }
  });

  it('gives the inner products of the query with the stored rows instead of distances on request', () => {
    const g = build();
    g.setEf(100);
    const labels = new Int32Array(10);
    const dist = new Float32Array(10);
    const dots = new Float32Array(10);
    for (const q of queries.slice(0, 5)) {
      const n = g.search(q, 10, labels, dist);
      const same = new Int32Array(10);
      assert.equal(g.search(q, 10, same, dots, null, true), n);
      assert.deepEqual(same, labels);
      for (let p = 0; p < n; p++) {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += q[j] * data[labels[p]][j];
        assert.ok(Math.abs(dots[p] - dot) < 1e-5, `dot ${dots[p]} vs ${dot}`);
      }
    }
  });

  it('keeps deleted labels out of results until unmarked, and reports what it changed', () => {
    const g = build();
    g.setEf(600);
    const q = queries[0];
    const top = bruteForce(data, q, 1)[0];
    assert.equal(g.markDelete(top), true);
    assert.equal(g.markDelete(top), false, 'already marked');
    assert.equal(g.markDelete(10_000), false, 'not in the graph');
    const labels = new Int32Array(5);
    g.search(q, 5, labels, null);
    assert.deepEqual(Array.from(labels), bruteForce(data, q, 5, (i) => i === top));
    assert.equal(g.unmarkDelete(top), true);
    assert.equal(g.unmarkDelete(top), false);
    g.search(q, 5, labels, null);
    assert.equal(labels[0], top);
  });

  it('applies a filter callback per candidate and rethrows its errors', () => {
    const g = build();
    g.setEf(600);
    const labels = new Int32Array(8);
    const even = (l: number) => l % 2 === 0;
    for (const q of queries.slice(0, 5)) {
      assert.equal(g.search(q, 8, labels, null, even), 8);
      assert.deepEqual(Array.from(labels), bruteForce(data, q, 8, (i) => !even(i)));
    }
    assert.throws(() => g.search(queries[0], 8, labels, null, () => { throw new Error('boom'); }), /boom/);
    // The walk's visited marks are per thread: a filter that searches the graph again gets its
    // own, and neither search disturbs the other (nor the next one).
    const inner = new Int32Array(8);
    let nested = 0;
    const searching = (l: number) => {
      if (nested++ % 7 === 0) {
        assert.equal(g.search(queries[1], 8, inner, null), 8);
        assert.deepEqual(Array.from(inner), bruteForce(data, queries[1], 8), 'the nested search');
      }
      return even(l);
    };
    for (const q of queries.slice(0, 5)) {
      assert.equal(g.search(q, 8, labels, null, searching), 8);
      assert.deepEqual(Array.from(labels), bruteForce(data, q, 8, (i) => !even(i)), 'the outer search');
      assert.equal(g.search(q, 8, labels, null), 8);
      assert.deepEqual(Array.from(labels), bruteForce(data, q, 8), 'a search after');
    }
    assert.ok(nested > 10);
  });

  it('writes and reads its graph (same answers), resizes, and replaces a label on re-add', () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-graph-'));
    try {
      const g = build();
      g.setEf(50);
      const path = join(dir, 'g.bin');
      g.writeIndex(path);
      const h = newGraph(dim);
      h.readIndex(path);
      h.setEf(50);
      assert.equal(h.getCurrentCount(), 600);
      const a = new Int32Array(10);
      const b = new Int32Array(10);
      for (const q of queries) {
        g.search(q, 10, a, null);
        h.search(q, 10, b, null);
        assert.deepEqual(Array.from(b), Array.from(a));
      }
      h.resizeIndex(700);
      assert.equal(h.getMaxElements(), 700);
      h.addPoint(queries[0], 650);
      h.setEf(700);
      h.search(queries[0], 1, a, null);
      assert.equal(a[0], 650);
      // Re-adding label 650 elsewhere moves it.
      h.addPoint(queries[1], 650);
      h.search(queries[0], 1, a, null);
      assert.notEqual(a[0], 650);
      assert.equal(h.getCurrentCount(), 601);
      // A graph of another dimension, and a file that is not a graph, are refused.
      assert.throws(() => newGraph(dim + 1).readIndex(path), /not an HNSW graph of dimension 19 \(it holds vectors of dimension 18\)/);
      writeFileSync(join(dir, 'bad.bin'), 'not a graph');
      assert.throws(() => newGraph(dim).readIndex(join(dir, 'bad.bin')), /HnswGraph\.readIndex: .*not an HNSW graph of dimension 18/);
      const whole = readFileSync(path);
      writeFileSync(join(dir, 'cut.bin'), whole.subarray(0, whole.length >> 1));
      assert.throws(() => newGraph(dim).readIndex(join(dir, 'cut.bin')), /truncated/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps a read graph copy-on-write: same answers as one read into memory; the file never changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-graph-map-'));
    try {
      const g = build();
      const path = join(dir, 'g.bin');
      g.writeIndex(path);
      const bytes = readFileSync(path);
      const mapped = newGraph(dim);
      mapped.readIndex(path);
      const own = newGraph(dim);
      own.readIndex(path, false);
      assert.equal(mapped.isMapped(), process.platform !== 'win32');
      assert.equal(own.isMapped(), false);
      assert.equal(g.isMapped(), false);
      for (const x of [mapped, own]) x.setEf(60);
      sameAnswers(own, mapped);
      const a = new Int32Array(10);
      const b = new Int32Array(10);
      // Populated at load: every page of the mapping resident before any search; same answers.
      const eager = newGraph(dim);
      eager.readIndex(path, true, true);
      const pages = mappedPages(path);
      if (pages && eager.isMapped()) assert.ok(pages.rssKb >= pages.sizeKb - 4, `populated graph mapping: ${JSON.stringify(pages)}`);
      eager.setEf(60);
      sameAnswers(own, eager);
      // Read onto huge pages instead (a serving process alone): a private copy, same answers.
      const advised = hugeAdvised();
      const huge = newGraph(dim);
      huge.readIndex(path, true, false, true);
      assert.equal(huge.isHugeCopy(), process.platform === 'linux');
      assert.equal(huge.isMapped(), false);
      const advisedNow = hugeAdvised();
      if (advised && advisedNow) assert.ok(advisedNow.sizeKb - advised.sizeKb >= Math.floor(bytes.length / 1024), `huge-page advice: ${JSON.stringify({ advised, advisedNow })}`);
      huge.setEf(60);
      sameAnswers(own, huge);
      assert.equal(huge.markDelete(4), true);
      huge.resizeIndex(huge.getMaxElements() + 5); // copied into memory that can grow
      assert.equal(huge.isHugeCopy(), false);
      huge.addPoint(queries[2], 901);
      huge.setEf(700);
      huge.search(queries[2], 1, b, null);
      assert.equal(b[0], 901);
      assert.deepEqual(readFileSync(path), bytes);
      // Writes into the mapped rows (a deleted mark, a replaced row) stay in this process.
      assert.equal(mapped.markDelete(3), true);
      mapped.addPoint(queries[0], 5); // replaces label 5's row in place
      assert.deepEqual(readFileSync(path), bytes);
      mapped.search(queries[0], 1, b, null);
      assert.equal(b[0], 5);
      // Saving over the mapped file itself (the rows are copied out first), then reading it again.
      mapped.writeIndex(path);
      assert.equal(mapped.isMapped(), false);
      const again = newGraph(dim);
      again.readIndex(path);
      again.setEf(60);
      again.search(queries[0], 1, a, null);
      assert.equal(a[0], 5);
      // A new label needs room: the mapped block is copied into memory that can grow.
      const grown = newGraph(dim);
      grown.readIndex(path);
      assert.equal(grown.getMaxElements(), grown.getCurrentCount());
      grown.resizeIndex(grown.getMaxElements() + 10);
      assert.equal(grown.isMapped(), false);
      grown.addPoint(queries[1], 900);
      grown.setEf(700);
      grown.search(queries[1], 1, a, null);
      assert.equal(a[0], 900);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a graph off the main thread (readIndexAsync): the same graph as readIndex, other calls refused meanwhile, bad files rejected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-graph-async-'));
    try {
      const g = build();
      const path = join(dir, 'g.bin');
      g.writeIndex(path);
      const own = newGraph(dim);
      own.readIndex(path, false);
      for (const [map, huge] of [[true, false], [false, false], [true, true]] as const) {
        const x = newGraph(dim);
        x.setEf(60);
        const pending = x.readIndexAsync(path, map, false, huge);
        assert.throws(() => x.search(queries[0], 1, new Int32Array(1), null), /being built or read/);
        assert.throws(() => x.readIndex(path), /being built or read/);
        await pending;
        assert.equal(x.getCurrentCount(), own.getCurrentCount());
        assert.equal(x.isMapped(), map && !huge && process.platform !== 'win32');
        assert.equal(x.isHugeCopy(), huge && process.platform === 'linux');
        own.setEf(60);
        sameAnswers(own, x); // the ef set before the read holds
      }
      writeFileSync(join(dir, 'bad.bin'), 'not a graph');
      const bad = newGraph(dim);
      await assert.rejects(bad.readIndexAsync(join(dir, 'bad.bin')), /HnswGraph\.readIndexAsync: .*not an HNSW graph of dimension 18/);
      await assert.rejects(bad.readIndexAsync(join(dir, 'missing.bin')), /cannot open/);
      assert.throws(() => bad.search(queries[0], 1, new Int32Array(1), null), /not initialised/); // usable again
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renumbers its elements for locality without changing any answer, deletion, insertion or saved file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-graph-reorder-'));
    try {
      const ask = (g: ReturnType<typeof build>, ef: number) => {
        g.setEf(ef);
        return queries.map((q) => {
          const labels = new Int32Array(10);
          const dist = new Float32Array(10);
          const n = g.search(q, 10, labels, dist);
          return { labels: Array.from(labels.subarray(0, n)), dist: Array.from(dist.subarray(0, n)) };
        });
      };
      const plain = build();
      plain.markDelete(3);
      const g = build();
      g.markDelete(3);
      g.reorderForLocality();
      // The same walk at a narrow breadth (where an approximate search depends on every link and
      // the entry point): identical labels and distances, deleted label still out.
      for (const ef of [10, 40, 600]) assert.deepEqual(ask(g, ef), ask(plain, ef));
      assert.ok(ask(g, 600).every((r) => !r.labels.includes(3)));
      // Marks and inserts by label still reach the right element.
      assert.equal(g.unmarkDelete(3), true);
      assert.equal(plain.unmarkDelete(3), true);
      g.resizeIndex(700);
      plain.resizeIndex(700);
      const extra = rows(50, dim, 3);
      extra.forEach((v, i) => {
        g.addPoint(v, 600 + i);
        plain.addPoint(v, 600 + i);
      });
      g.setEf(700);
      const labels = new Int32Array(10);
      for (let i = 0; i < extra.length; i += 7) {
        assert.equal(g.search(extra[i], 1, labels, null), 1);
        assert.equal(labels[0], 600 + i, 'an inserted row is its own nearest neighbour');
      }
      assert.deepEqual(ask(g, 700), ask(plain, 700));
      // Saved and read back: the same answers.
      g.writeIndex(join(dir, 'g.bin'));
      const back = newGraph(dim);
      back.readIndex(join(dir, 'g.bin'), false);
      assert.deepEqual(ask(back, 30), ask(g, 30));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad arguments with clear errors', () => {
    const g = newGraph(dim);
    assert.throws(() => g.search(queries[0], 1, new Int32Array(1), null), /not initialised/);
    g.initIndex(4, 8, 10, 1);
    assert.throws(() => g.addPoint(new Float32Array(dim - 1), 0), /Float32Array of length 18/);
    assert.throws(() => g.search(queries[0], 4, new Int32Array(2), null), /labels must be an Int32Array of length >= k/);
    assert.throws(() => g.search(queries[0], 1, new Int32Array(1), new Float32Array(0)), /distances must be/);
    assert.throws(() => g.setEf(0), /ef must be an integer >= 1/);
    for (let i = 0; i < 4; i++) g.addPoint(data[i], i);
    assert.throws(() => g.addPoint(data[4], 4), /HnswGraph\.addPoint: .*exceed/i);
    assert.equal(g.search(queries[0], 0, new Int32Array(0), null), 0);
  });
});
