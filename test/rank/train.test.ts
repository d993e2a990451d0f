import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSynthWorld, synthEvents, synthItems } from '../../src/data/synth.js';
import { ColumnarCatalog } from '../../src/funnel/catalog.js';
import { RankingModel } from '../../src/rank/model.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { resolveConfig } from '../../src/train/config.js';
import { train } from '../../src/train/train.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-rank-train-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('funnel train with a ranker scene', () => {
  it('validates the ranker settings', () => {
    const c = resolveConfig({ training: { ranker: { model: 'fm', heads: { click: 1, conversion: 0.2 }, fm: { k: 4 } } }, scenes: { home: { scorer: 'ranker' } } });
    assert.equal(c.training.ranker.model, 'fm');
    assert.deepEqual(c.training.ranker.heads, { click: 1, conversion: 0.2 });
    assert.equal(c.training.ranker.calibration, 'isotonic');
    assert.equal(c.scenes.home.scorer, 'ranker');
    assert.throws(
      () => resolveConfig({ training: { ranker: { model: 'gbdt', heads: { views: 1 }, speed: 1 } }, scenes: { home: { scorer: 'magic' } } }),
      (e: Error) => /training\.ranker\.model/.test(e.message) && /training\.ranker\.heads/.test(e.message) && /training\.ranker\.speed: unknown/.test(e.message) && /scenes\.home\.scorer/.test(e.message),
    );
  });

  it('trains the ranker into the artifact when a scene asks for it', async () => {
    const world = buildSynthWorld({ users: 150, items: 200, events: 15_000, seed: 6, days: 10 });
    const store = await SqliteStore.open(join(dir, 'app.db'));
    try {
      await store.upsertItems([...synthItems(world)]);
      const events = [...synthEvents(world)];
      for (let i = 0; i < events.length; i += 5000) await store.appendEvents(events.slice(i, i + 5000));
      const config = resolveConfig({
        training: { led: { dim: 8, epochs: 2, negatives: 20, batchSize: 64 }, validationUsers: 20, ranker: { model: 'lr', heads: { click: 1, conversion: 0.3 } } },
        scenes: { home: { k: 10, scorer: 'ranker', generators: [{ type: 'popular', quota: 50 }, { type: 'itemknn', quota: 50 }] }, plain: { k: 5, generators: [{ type: 'popular', quota: 20 }] } },
      });
      const lines: string[] = [];
      const res = await train(store, { modelsDir: join(dir, 'models'), config, seed: 2, log: (l) => lines.push(l) });
      const comp = res.manifest.components.ranker;
      assert.ok(comp, `no ranker component; log:\n${lines.join('\n')}`);
      assert.equal(comp.kind, 'ranker:lr');
      assert.ok(existsSync(join(res.dir, 'ranker', 'ranking.json')));
      const m = res.manifest.metrics.ranker as { test: { click: { auc: number } }; samples: { train: number } };
      assert.ok(m.samples.train > 1000);
      assert.ok(m.test.click.auc > 0.55, `AUC ${m.test.click.auc}`);
      const model = await RankingModel.load(join(res.dir, 'ranker'), await ColumnarCatalog.fromStore(store, { attributes: [] }));
      assert.deepEqual(model.space.config.generators, ['popular', 'itemknn']);
      assert.deepEqual(model.headWeights(), { click: 1, conversion: 0.3 });
      assert.ok(JSON.parse(readFileSync(join(res.dir, 'ranker', 'ranking.json'), 'utf8')).profiles.recentSize === 200);
    } finally {
      await store.close();
    }
  });
});
