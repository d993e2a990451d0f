import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExactIndex } from '../../src/index/exact.js';
import { HnswIndex } from '../../src/index/hnsw.js';
import { newGraph } from '../../src/index/graph.js';
import { recallAgainstExact, syntheticCatalog, syntheticQueries } from '../../src/index/synthetic.js';
import { indexConformance } from './conformance.js';

indexConformance('hnsw', {
  exact: false,
  build: (vectors, biases, dim, ids) => HnswIndex.build(vectors, biases, dim, {}, ids),
  load: (dir) => HnswIndex.load(dir),
});

describe('HnswIndex', () => {
  it('reaches Recall@100 >= 0.95 against exact at the default settings (20K clustered items, d = 32)', () => {
    const cat = syntheticCatalog({ items: 20_000, dim: 32, seed: 1 });
    const queries = syntheticQueries(cat, 50, 2);
    const t0 = performance.now();
    const hnsw = HnswIndex.build(cat.vectors, cat.biases, cat.dim);
    const buildMs = performance.now() - t0;
    const exact = ExactIndex.build(cat.vectors, cat.biases, cat.dim);
    const recall = recallAgainstExact(hnsw, exact, queries, 100);
    assert.ok(recall >= 0.95, `Recall@100 ${recall.toFixed(4)} (build ${buildMs.toFixed(0)} ms)`);
    assert.equal(hnsw.stats.overfetch, queries.length, 'answered by the graph, not the exact fallback');
  });

  it('never returns an item removed, hidden or moved to another band, in memory or after a save (graph searches)', async () => {
    const cat = syntheticCatalog({ items: 6000, dim: 8, seed: 5 });
    const idx = HnswIndex.build(cat.vectors, cat.biases, 8, { bands: 3 });
    assert.equal(idx.bandCount, 3);
    const q = syntheticQueries(cat, 1, 6)[0];
    const top = Array.from(idx.search(q, 30).ids);
    const [removed, hidden, moved] = [top.slice(0, 3), top.slice(3, 6), top.slice(6, 9)];
    idx.remove(removed);
    idx.setAvailable(hidden, false);
    // A tenth of the vector and no bias: a much shorter norm, so a lower band, and a low score.
    const vecs = new Float32Array(moved.length * 8);
    moved.forEach((id, p) => { for (let j = 0; j < 8; j++) vecs[p * 8 + j] = cat.vectors[id * 8 + j] / 10; });
    idx.upsert(moved, vecs, new Float32Array(moved.length));
    const exact = ExactIndex.build(cat.vectors, cat.biases, 8);
    exact.remove(removed);
    exact.setAvailable(hidden, false);
    exact.upsert(moved, vecs, new Float32Array(moved.length));
    const check = (found: Int32Array) => {
      const ids = Array.from(found);
      assert.equal(new Set(ids).size, ids.length, 'no item twice');
      for (const id of [...removed, ...hidden]) assert.ok(!ids.includes(id), `item ${id} is gone or hidden`);
      const truth = new Set(exact.search(q, 30).ids);
      // A moved item scores low now: its old row, left in its old band's graph, must not answer.
      for (const id of moved) assert.ok(truth.has(id) || !ids.includes(id), `item ${id} was moved to a lower band`);
      assert.ok(ids.filter((id) => truth.has(id)).length >= 28, 'the rest is the exact top 30');
    };
    const before = idx.stats.overfetch;
    check(idx.search(q, 30).ids);
    assert.equal(idx.stats.overfetch, before + 1, 'answered by the graph search');
    const dir = mkdtempSync(join(tmpdir(), 'funnel-hnsw-dead-'));
    try {
      await idx.save(dir);
      check((await HnswIndex.load(dir)).search(q, 30).ids);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('saves the graph without the vectors when built over adopted arrays', async () => {
    const cat = syntheticCatalog({ items: 3000, dim: 8, seed: 3 });
    const present = new Uint8Array(3000).fill(1);
    present[10] = 0;
    const idx = HnswIndex.adopt(cat.vectors, cat.biases, 8, present);
    assert.equal(idx.size, 2999);
    idx.setAvailable([11], false);
    const dir = mkdtempSync(join(tmpdir(), 'funnel-hnsw-'));
    try {
      await idx.save(dir);
      await assert.rejects(HnswIndex.load(dir), /saved without its vectors/);
      await assert.rejects(HnswIndex.load(dir, { vectors: cat.vectors.subarray(0, 800), biases: cat.biases.subarray(0, 100) }), /built over 3000 items/);
      const back = await HnswIndex.load(dir, { vectors: cat.vectors, biases: cat.biases, present });
      assert.equal(back.size, 2998);
      // The graphs were renumbered for locality at the build, and the saved index says so.
      assert.equal(idx.layout, 'bfs');
      assert.equal(back.layout, 'bfs');
      const q = syntheticQueries(cat, 1, 9)[0];
      assert.deepEqual(Array.from(back.search(q, 30).ids), Array.from(idx.search(q, 30).ids));
      assert.ok(!back.search(q, 3000 / 4 - 1).ids.includes(11));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('builds the bands in parallel into the same graphs, byte for byte, as the sequential build', async () => {
    const cat = syntheticCatalog({ items: 12_000, dim: 16, seed: 5 });
    const present = new Uint8Array(12_000).fill(1);
    present[7] = 0;
    const seen: number[] = [];
    const seq = HnswIndex.adopt(cat.vectors, cat.biases, 16, present);
    const par = await HnswIndex.adoptAsync(cat.vectors, cat.biases, 16, present, { buildChunk: 700, onProgress: (done) => seen.push(done) });
    assert.equal(seen.at(-1), 11_999, 'progress ends at the item count');
    const dirs = [mkdtempSync(join(tmpdir(), 'funnel-hnsw-seq-')), mkdtempSync(join(tmpdir(), 'funnel-hnsw-par-'))];
    try {
      await seq.save(dirs[0]);
      await par.save(dirs[1]);
      const files = readdirSync(dirs[0]).sort();
      assert.deepEqual(readdirSync(dirs[1]).sort(), files);
      assert.ok(files.filter((f) => f.endsWith('.bin') || f.includes('band')).length >= 1, `graph files: ${files}`);
      for (const f of files) assert.ok(readFileSync(join(dirs[0], f)).equals(readFileSync(join(dirs[1], f))), `${f} differs`);
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
    const q = syntheticQueries(cat, 3, 4);
    for (const x of q) assert.deepEqual(Array.from(par.search(x, 50).ids), Array.from(seq.search(x, 50).ids));
    const built = await HnswIndex.buildAsync(cat.vectors, cat.biases, 16);
    assert.deepEqual(Array.from(built.search(q[0], 20).ids), Array.from(HnswIndex.build(cat.vectors, cat.biases, 16).search(q[0], 20).ids));
  });

  it('refuses other calls on a graph while it builds in the background', async () => {
    const g = newGraph(4);
    g.initIndex(100, 8, 20, 1);
    const rows = new Float32Array(400).map((_, i) => Math.sin(i));
    const labels = Int32Array.from({ length: 100 }, (_, i) => i);
    const p = g.addPointsAsync(rows, labels);
    assert.throws(() => g.search(new Float32Array(4), 5, new Int32Array(5), null), /being built/);
    assert.throws(() => g.addPoint(new Float32Array(4), 7), /being built/);
    assert.throws(() => g.initIndex(10, 8, 20, 1), /being built/);
    await p;
    assert.equal(g.getCurrentCount(), 100);
    assert.throws(() => g.addPointsAsync(new Float32Array(3), new Int32Array(1)), /rows must hold/);
    await assert.rejects(async () => g.addPointsAsync(new Float32Array(4), Int32Array.of(500)), /room for 0 more/);
  });

  it('rejects bad options', () => {
    assert.throws(() => HnswIndex.build(new Float32Array(4), new Float32Array(2), 2, { m: 0 }), /m must be an integer/);
    assert.throws(() => HnswIndex.build(new Float32Array(4), new Float32Array(2), 2, { bands: 65 }), /bands must be at most 64/);
  });
});
