/** `training.typeWeights`: configuration, the name → code mapping, and a training run with it. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event, Item } from '../../src/data/model.js';
import { loadModel, readManifest } from '../../src/models/retrieval/registry.js';
import type { PopularityModel } from '../../src/models/retrieval/popularity.js';
import { SmallRng } from '../../src/models/retrieval/types.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { DEFAULT_TRAINING, resolveConfig } from '../../src/train/config.js';
import { train, typeWeightsByCode } from '../../src/train/train.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-type-weights-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('training.typeWeights', () => {
  it('defaults to every type weighing 1 and accepts custom types', () => {
    assert.deepEqual(resolveConfig(undefined).training.typeWeights, {});
    assert.deepEqual(DEFAULT_TRAINING.typeWeights, {});
    const c = resolveConfig({ training: { typeWeights: { view: 0.5, purchase: 5, wishlist: 2, click: 0 } } });
    assert.deepEqual(c.training.typeWeights, { view: 0.5, purchase: 5, wishlist: 2, click: 0 });
  });

  it('reports negative and non-number weights with their path', () => {
    assert.throws(
      () => resolveConfig({ training: { typeWeights: { view: -1, purchase: '5', like: null, share: 1 } } }),
      (e: Error) =>
        /training\.typeWeights\.view: must be a number >= 0/.test(e.message) &&
        /training\.typeWeights\.purchase: must be a number >= 0/.test(e.message) &&
        /training\.typeWeights\.like: must be a number >= 0/.test(e.message) &&
        !/typeWeights\.share/.test(e.message),
    );
    assert.throws(() => resolveConfig({ training: { typeWeights: [1, 2] } }), /training\.typeWeights: must be an object/);
    assert.throws(() => resolveConfig({ training: { typeWeights: 3 } }), /training\.typeWeights: must be an object/);
    assert.throws(
      () => resolveConfig({ training: { eventTypes: ['view', 'purchase'], typeWeights: { view: 0, purchase: 0 } } }),
      /training\.typeWeights: every type of training\.eventTypes has weight 0/,
    );
  });

  it('maps names to the store type codes (unlisted types and unknown codes weigh 1)', () => {
    const codes = new Map([[0, 'view'], [1, 'click'], [3, 'purchase']]);
    assert.equal(typeWeightsByCode({}, codes), undefined);
    assert.equal(typeWeightsByCode({ view: 1, purchase: 1 }, codes), undefined);
    assert.deepEqual([...typeWeightsByCode({ purchase: 5, click: 0, wishlist: 3 }, codes)!], [1, 0, 1, 5]);
  });

  it('weighs purchases in the trained popularity and LED', async () => {
    const store = await SqliteStore.open(join(dir, 'app.db'));
    try {
      const T0 = Date.UTC(2026, 0, 1);
      const items: Item[] = [];
      for (let q = 0; q < 30; q++) items.push({ id: `i${q}`, categories: ['c'], createdAt: T0, available: true });
      await store.upsertItems(items);
      // Every user views i0 and 6 other items; 8 users view then buy i29.
      const rng = new SmallRng(4);
      const events: Event[] = [];
      for (let u = 0; u < 80; u++) {
        let t = T0 + u * 1000;
        events.push({ userId: `u${u}`, itemId: 'i0', type: 'view', timestamp: (t += 10) });
        const seen = new Set<number>();
        while (seen.size < 6) seen.add(1 + rng.int(27));
        for (const q of seen) events.push({ userId: `u${u}`, itemId: `i${q}`, type: 'view', timestamp: (t += 10) });
        if (u % 10 === 0) {
          events.push({ userId: `u${u}`, itemId: 'i29', type: 'view', timestamp: (t += 10) });
          events.push({ userId: `u${u}`, itemId: 'i29', type: 'purchase', timestamp: (t += 10) });
        }
      }
      await store.appendEvents(events);
      const run = async (typeWeights: Record<string, number> | undefined, name: string) => {
        const config = resolveConfig({
          training: { eventTypes: ['view', 'purchase'], led: { dim: 4, epochs: 2, negatives: 10, batchSize: 32 }, validationUsers: 12, ...(typeWeights ? { typeWeights } : {}) },
        });
        const res = await train(store, { modelsDir: join(dir, name), config, seed: 2 });
        const pop = (await loadModel(join(res.dir, 'popularity'))) as PopularityModel;
        return { res, pop: pop.popularity() };
      };
      const plain = await run(undefined, 'plain');
      const i0 = await store.itemIndex('i0');
      const i29 = await store.itemIndex('i29');
      assert.ok(plain.pop[i0] > plain.pop[i29], 'without weights, i0 (80 users) beats i29 (8)');
      const weighted = await run({ purchase: 20 }, 'weighted');
      assert.ok(Math.abs(weighted.pop[i29] - 20 * plain.pop[i29]) < 1e-3 * weighted.pop[i29], `i29 counts 8 buyers × 20: ${weighted.pop[i29]} vs ${plain.pop[i29]}`);
      assert.ok(Math.abs(weighted.pop[i0] - plain.pop[i0]) < 1e-3 * plain.pop[i0]);
      const cfg = (weighted.res.manifest.config as { training: { typeWeights: Record<string, number> } }).training.typeWeights;
      assert.deepEqual(cfg, { purchase: 20 });
      const codes = await store.eventTypes();
      const want = typeWeightsByCode({ purchase: 20 }, codes)!;
      const led = await readManifest(join(weighted.res.dir, 'led'));
      assert.deepEqual((led.config.params as { typeWeights: number[] }).typeWeights, [...want]);
      assert.equal(((await readManifest(join(plain.res.dir, 'led'))).config.params as { typeWeights?: number[] }).typeWeights, undefined);
    } finally {
      await store.close();
    }
  });
});
