/**
 * The model comparison behind `funnel evaluate`: splits once, fits each model, reports the
 * Table-2 columns; and the command itself on a real store file.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareModels, makeSplit } from '../../src/eval/compare.js';
import { syntheticTimelines } from '../../src/eval/synthetic.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const data = syntheticTimelines({ users: 600, items: 300, events: 12_000, clusters: 6, seed: 3 });

describe('compareModels', () => {
  it('reports every model asked for on one split, and personalised models beat popularity', async () => {
    const r = await compareModels(data, { models: ['pop', 'knn', 'ease', 'led'], heldOutUsers: 60, epochs: 8, dim: 16, seed: 2 });
    assert.equal(r.protocol, 'strong-generalization');
    assert.deepEqual(r.rows.map((x) => x.id), ['pop', 'knn', 'ease', 'led']);
    for (const row of r.rows) {
      for (const k of ['recall_at_20', 'recall_at_50', 'ndcg_at_100'] as const) assert.ok(row[k] >= 0 && row[k] <= 1, `${row.id} ${k}=${row[k]}`);
      assert.ok(row.fit_seconds >= 0);
    }
    const by = Object.fromEntries(r.rows.map((x) => [x.id as string, x.recall_at_20]));
    assert.ok(by.knn > by.pop && by.ease > by.pop && by.led > by.pop, JSON.stringify(by));
  });

  it('supports the temporal and leave-one-out protocols, and refuses unknown models', async () => {
    const t = await compareModels(data, { protocol: 'temporal', lastN: 2, models: ['pop'], seed: 1 });
    assert.equal(t.protocol, 'temporal');
    const l = await compareModels(data, { protocol: 'loo', models: ['pop', 'knn'], seed: 1 });
    assert.equal(l.protocol, 'leave-one-out-sampled');
    assert.ok((l.rows[1].hit_at_10 as number) > (l.rows[0].hit_at_10 as number), 'knn beats popularity on sampled HR@10');
    await assert.rejects(compareModels(data, { models: ['svdpp'] }), /unknown model 'svdpp'/);
    assert.throws(() => makeSplit(data, { protocol: 'random' as never }), /unknown protocol/);
  });
});

describe('funnel evaluate', () => {
  it('evaluates models on a store file and prints JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'funnel-evaluate-'));
    try {
      const db = join(dir, 'x.db');
      const store = await SqliteStore.open(db);
      const events = [];
      for (let u = 0; u < data.numUsers; u++) {
        for (let p = data.indptr[u]; p < data.indptr[u + 1]; p++) events.push({ userId: `u${u}`, itemId: `i${data.items[p]}`, type: 'view', timestamp: 1_700_000_000_000 + p });
      }
      await store.appendEvents(events);
      await store.close();
      const root = join(import.meta.dirname, '..', '..');
      const r = spawnSync(process.execPath, [join(root, 'bin', 'funnel.js'), 'evaluate', '--db', db, '--models', 'pop,knn', '--heldout', '50', '--json'], {
        env: { ...process.env, FUNNEL_FROM_SOURCE: '1', FUNNEL_QUIET: '1' },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { protocol: string; models: { id: string; recall_at_20: number }[] };
      assert.equal(out.protocol, 'strong-generalization');
      assert.deepEqual(out.models.map((m) => m.id), ['pop', 'knn']);
      const bad = spawnSync(process.execPath, [join(root, 'bin', 'funnel.js'), 'evaluate', '--db', db, '--protocol', 'kfold'], {
        env: { ...process.env, FUNNEL_FROM_SOURCE: '1', FUNNEL_QUIET: '1' },
        encoding: 'utf8',
      });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /--protocol: expected strong, temporal or loo/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
