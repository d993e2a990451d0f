import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExactIndex } from '../../src/index/exact.js';
import { HnswIndex } from '../../src/index/hnsw.js';
import { syntheticCatalog, syntheticQueries } from '../../src/index/synthetic.js';
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
    let hit = 0;
    for (const q of queries) {
      const want = new Set(exact.search(q, 100).ids);
      for (const id of hnsw.search(q, 100).ids) if (want.has(id)) hit++;
    }
    const recall = hit / (100 * queries.length);
    assert.ok(recall >= 0.95, `Recall@100 ${recall.toFixed(4)} (build ${buildMs.toFixed(0)} ms)`);
    assert.equal(hnsw.stats.overfetch, queries.length, 'answered by the graph, not the exact fallback');
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
      const q = syntheticQueries(cat, 1, 9)[0];
      assert.deepEqual(Array.from(back.search(q, 30).ids), Array.from(idx.search(q, 30).ids));
      assert.ok(!back.search(q, 3000 / 4 - 1).ids.includes(11));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad options', () => {
    assert.throws(() => HnswIndex.build(new Float32Array(4), new Float32Array(2), 2, { m: 0 }), /m must be an integer/);
    assert.throws(() => HnswIndex.build(new Float32Array(4), new Float32Array(2), 2, { bands: 65 }), /bands must be at most 64/);
  });
});
