import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RsvdModel } from '../../../src/models/retrieval/rsvd.js';
import { LedModel } from '../../../src/models/retrieval/led.js';
import { loadModel } from '../../../src/models/retrieval/registry.js';
import { recommendMany, SmallRng, timelinesFromArrays, type Timelines } from '../../../src/models/retrieval/types.js';

/**
 * `blocks` blocks of `size` items; user x belongs to block x % blocks and holds `perUser`
 * distinct items of it, plus one random item anywhere with probability `noise`. The last item
 * (index blocks·size) is never seen.
 */
function blockTimelines(users: number, blocks: number, size: number, perUser: number, noise = 0.2, seed = 1): Timelines {
  const rng = new SmallRng(seed);
  const u: number[] = [];
  const it: number[] = [];
  for (let x = 0; x < users; x++) {
    const b = x % blocks;
    const seen = new Set<number>();
    while (seen.size < perUser) seen.add(b * size + rng.int(size));
    if (rng.next() < noise) seen.add(rng.int(blocks * size));
    for (const i of seen) { u.push(x); it.push(i); }
  }
  return timelinesFromArrays({ userIdx: u, itemIdx: it, numItems: blocks * size + 1 });
}

const blockOf = (i: number) => Math.floor(i / 20);

describe('RsvdModel', () => {
  const data = blockTimelines(400, 4, 20, 6);

  it('similar items and recommendations stay in the block', async () => {
    const m = new RsvdModel();
    const rep = await m.fit(data, { dim: 8, seed: 3 });
    assert.equal(rep.kind, 'rsvd');
    assert.equal(m.numItems, 81);
    assert.ok((rep.metrics?.pmi_nnz ?? 0) > 0);
    let inBlock = 0;
    let total = 0;
    for (let i = 0; i < 80; i += 3) {
      const sim = m.similarItems(i, 5);
      assert.equal(sim.items.length, 5);
      assert.ok(!sim.items.includes(i), 'never the item itself');
      for (const j of sim.items) { total++; if (blockOf(j) === blockOf(i)) inBlock++; }
    }
    assert.ok(inBlock / total >= 0.95, `similar items in the same block: ${inBlock}/${total}`);
    for (let b = 0; b < 4; b++) {
      const hist = Int32Array.of(b * 20 + 2, b * 20 + 7, b * 20 + 11);
      const rec = m.recommend(hist, 10);
      assert.ok(!rec.items.some((i) => hist.includes(i)), 'history is excluded');
      assert.ok(!rec.items.includes(80), 'an item never seen is never recommended');
      const hits = [...rec.items].filter((i) => blockOf(i) === b).length;
      assert.ok(hits >= 9, `block ${b}: ${hits}/10 in block`);
    }
    // The user vector is the mean of the item vectors.
    const { vectors, dim, biases } = m.itemVectors();
    assert.equal(biases, undefined);
    const u = m.encodeUser(Int32Array.of(3, 5));
    for (let j = 0; j < dim; j++) assert.ok(Math.abs(u[j] - (vectors[3 * dim + j] + vectors[5 * dim + j]) / 2) < 1e-6);
    // The batch path agrees with the per-user one.
    const batch = recommendMany(m as never, data, 5);
    const one = m.recommend(data.items.subarray(data.indptr[7], data.indptr[8]), 5);
    assert.deepEqual(Array.from(batch.items.subarray(7 * 5, 8 * 5)), Array.from(one.items));
  });

  it('saves and loads the same model through the registry', async () => {
    const m = new RsvdModel();
    await m.fit(data, { dim: 6, singularPower: 0, window: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'funnel-rsvd-'));
    try {
      await m.save(dir);
      const back = await loadModel(dir);
      assert.equal(back.kind, 'rsvd');
      assert.equal(back.name, m.name);
      assert.deepEqual(back.itemVectors!().vectors, m.itemVectors().vectors);
      const hist = Int32Array.of(1, 2, 3);
      assert.deepEqual(back.recommend(hist, 10), m.recommend(hist, 10));
      assert.deepEqual((back as RsvdModel).singularValues(), m.singularValues());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('singularPower 0 gives orthonormal item-vector columns; vectors initialise LED', async () => {
    const m = new RsvdModel();
    await m.fit(data, { dim: 4, singularPower: 0 });
    const { vectors, dim } = m.itemVectors();
    for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) {
      let s = 0;
      for (let i = 0; i < m.numItems; i++) s += vectors[i * dim + a] * vectors[i * dim + b];
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-4, `U column ${a}·${b} = ${s}`);
    }
    const led = new LedModel();
    await led.fit(data, { initVectors: vectors.slice(), tuning: 'project', epochs: 2, negatives: 20, batchSize: 64 });
    assert.equal(led.itemVectors().dim, 4);
  });

  it('rejects bad options and calls before fit', async () => {
    const m = new RsvdModel();
    assert.throws(() => m.recommend(Int32Array.of(1), 5), /not fitted/);
    await assert.rejects(m.fit(data, { dim: 0 }), /dim/);
    await assert.rejects(m.fit(data, { alpha: 2 }), /alpha/);
  });
});
