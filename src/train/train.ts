/**
 * The offline trainer: store → timelines → retrieval models (LED, item-kNN, popularity) →
 * ANN index → a versioned artifact (src/artifacts/registry.ts). Serving never talks to the
 * trainer; it picks the new artifact up from the model folder.
 *
 * LED's checkpoint is chosen on held-out users (strong generalization, the most recent 20% of
 * each held-out timeline as target); the same users measure every model, and those figures go
 * into the manifest's metrics.
 */
import { join } from 'node:path';
import { writeArtifact, type ArtifactManifest, type ComponentEntry } from '../artifacts/registry.js';
import { evaluate, heldOutNdcg } from '../eval/evaluate.js';
import { strongGeneralization, type Split } from '../eval/protocols.js';
import { ItemKnnModel } from '../models/retrieval/itemknn.js';
import { LedModel } from '../models/retrieval/led.js';
import { PopularityModel } from '../models/retrieval/popularity.js';
import { timelinesFromStore, numEvents, type RetrievalModel, type Timelines } from '../models/retrieval/types.js';
import type { Store } from '../store/types.js';
import { createProgress } from '../util/progress.js';
import { trainRankerFromStore, type StoreRankerResult } from '../rank/from-store.js';
import { buildItemIndex } from './index-build.js';
import type { FunnelConfig } from './config.js';

export interface TrainOptions {
  /** Folder of versioned artifacts. */
  modelsDir: string;
  config: FunnelConfig;
  seed?: number;
  /** Log lines (default: console.error when not quiet). */
  log?: (line: string) => void;
}

export interface TrainResult {
  dir: string;
  manifest: ArtifactManifest;
}

const EVAL_METRICS = ['recall@20', 'recall@50', 'ndcg@100'];

export async function train(store: Store, opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? (() => {});
  const cfg = opts.config.training;
  const seed = opts.seed ?? 1;
  const t0 = performance.now();
  const counts = await store.counts();
  const data = await timelinesFromStore(store, {
    types: cfg.eventTypes,
    valueTypes: ['rating'],
    valueAbove: cfg.minRating,
    progress: createProgress({ label: 'reading events', unit: ' ev' }),
  });
  const events = numEvents(data);
  if (events === 0) throw new Error(`no training events of types ${cfg.eventTypes.join(', ')} in the store (import some, or set training.eventTypes)`);
  log(`training on ${events} events of ${data.numUsers} users and ${data.numItems} items`);

  // Held-out users: LED's checkpoint selection and every model's offline figures.
  let split: Split | undefined;
  let eligible = 0;
  for (let u = 0; u < data.numUsers; u++) if (data.indptr[u + 1] - data.indptr[u] >= 5) eligible++;
  const heldOut = Math.min(cfg.validationUsers, Math.floor(eligible / 5));
  if (heldOut >= 10) {
    split = strongGeneralization(data, { valueAbove: undefined, validationUsers: heldOut, testUsers: heldOut, targetSelection: 'last', seed });
  } else log(`only ${eligible} users with 5+ events: no held-out evaluation, LED trains for its full epochs`);

  // Per-type weights (training.typeWeights) as arrays indexed by the store's type codes.
  const typeWeights = typeWeightsByCode(cfg.typeWeights, await store.eventTypes());
  if (typeWeights && split) keepHeaviestTypes(split.train, split.trainUsers, data, typeWeights);

  const metrics: Record<string, unknown> = {};
  const measure = async (name: string, model: RetrievalModel<never>) => {
    if (!split) return;
    const r = await evaluate(model, split.test, { metrics: EVAL_METRICS });
    metrics[name] = Object.fromEntries(EVAL_METRICS.map((m) => [m.replace('@', '_at_'), +r.metrics[m].toFixed(4)]));
  };

  const led = new LedModel();
  const ledReport = await led.fit(split ? split.train : data, {
    ...cfg.led,
    ...(typeWeights ? { typeWeights } : {}),
    seed,
    ...(split ? { validate: heldOutNdcg(split.validation) } : {}),
    onEpoch: (e) => log(`led epoch ${e.epoch}: loss ${e.loss.toFixed(4)}${e.validation !== undefined ? `, validation NDCG@100 ${e.validation.toFixed(4)}` : ''} (${e.seconds.toFixed(1)} s)`),
  }, createProgress({ label: 'training LED', unit: ' batches' }));
  await measure('led', led as RetrievalModel<never>);

  const knn = new ItemKnnModel();
  await knn.fit(split ? split.train : data, cfg.itemknn);
  await measure('itemknn', knn as RetrievalModel<never>);
  const pop = new PopularityModel();
  const popOpts = { ...cfg.popularity, ...(typeWeights ? { typeWeights } : {}) };
  await pop.fit(split ? split.train : data, popOpts);
  await measure('popularity', pop as RetrievalModel<never>);
  // The serving versions of item-kNN and popularity see every event.
  if (split) {
    await knn.fit(data, cfg.itemknn);
    await pop.fit(data, popOpts);
  }

  // The ranking stage, when a scene scores with the ranker (rank/from-store.ts).
  const rankScenes = Object.values(opts.config.scenes).filter((sc) => sc.scorer === 'ranker');
  let ranker: StoreRankerResult | undefined;
  if (rankScenes.length > 0) {
    const rc = cfg.ranker;
    const generators = [...new Set(rankScenes.flatMap((sc) => sc.generators.map((g) => g.name ?? g.type)))];
    ranker = await trainRankerFromStore(store, {
      model: rc.model, heads: rc.heads, calibration: rc.calibration, lr: rc.lr, fm: rc.fm,
      features: { generators, ...rc.features },
      clickWindowMs: rc.clickWindowMs, conversionWindowMs: rc.conversionWindowMs,
      ...(rc.epochs !== undefined ? { epochs: rc.epochs } : {}), seed, log,
    });
    if (!ranker.model) log(`ranker: not trained (${ranker.reason}); ranker scenes score with rank fusion`);
    else log(`ranker: ${ranker.report.model}, test AUC ${Object.entries(ranker.report.test).map(([h, e]) => `${h} ${e.auc.toFixed(4)}`).join(', ')}`);
  }

  const snapshot = { events: counts.events, users: counts.users, items: counts.items, training_events: events };
  const result = await writeArtifact(
    opts.modelsDir,
    async (dir) => {
      const components: Record<string, ComponentEntry> = {};
      await led.save(join(dir, 'led'));
      components.led = { kind: 'retrieval:led', path: 'led' };
      await knn.save(join(dir, 'itemknn'));
      components.itemknn = { kind: 'retrieval:itemknn', path: 'itemknn' };
      await pop.save(join(dir, 'popularity'));
      components.popularity = { kind: 'retrieval:popularity', path: 'popularity' };
      const bar = createProgress({ label: 'item index', unit: ' rows' });
      const idx = await buildItemIndex(led, join(dir, 'index'), cfg.index, (done, total) => bar.update(done, total));
      bar.done();
      log(`item index: ${idx.kind} over ${idx.size} items (${idx.seconds.toFixed(1)} s)`);
      components.index = { kind: `index:${idx.kind}`, path: 'index', items: idx.size };
      if (ranker?.model) {
        await ranker.model.save(join(dir, 'ranker'));
        components.ranker = { kind: `ranker:${ranker.model.ranker.kind}`, path: 'ranker' };
      }
      return components;
    },
    {
      dataSnapshot: snapshot,
      metrics: {
        ...metrics,
        ...(ranker?.model ? { ranker: rankerMetrics(ranker.report) } : ranker ? { ranker: { trained: false, reason: ranker.reason } } : {}),
        led_fit: ledReport.metrics ?? {},
        train_seconds: +((performance.now() - t0) / 1000).toFixed(2),
      },
      config: opts.config,
    },
  );
  log(`artifact ${result.manifest.version} written to ${result.dir}`);
  return result;
}

/**
 * `training.typeWeights` (type name → weight) as an array indexed by the store's type codes
 * (types not listed, and codes past the end, weigh 1); undefined when every weight is 1, so
 * that training without weights is exactly the unweighted one.
 */
export function typeWeightsByCode(byName: Record<string, number>, codes: Map<number, string>): Float32Array | undefined {
  if (Object.values(byName).every((w) => w === 1)) return undefined;
  let max = -1;
  for (const c of codes.keys()) if (c > max) max = c;
  const out = new Float32Array(max + 1).fill(1);
  for (const [c, name] of codes) if (byName[name] !== undefined) out[c] = byName[name];
  return out;
}

/**
 * The held-out split dedupes each user's (user, item) events keeping the first, which is
 * usually the lightest (a view before the purchase): give each kept event the type of the
 * user's heaviest event on that item, so the weights see the purchase.
 */
function keepHeaviestTypes(train: Timelines, trainUsers: Int32Array, data: Timelines, w: Float32Array): void {
  if (!train.types || !data.types) return;
  const weightOf = (c: number) => (c < w.length ? w[c] : 1);
  const bestType = new Int32Array(data.numItems);
  const stamp = new Int32Array(data.numItems).fill(-1);
  for (let r = 0; r < train.numUsers; r++) {
    const u = trainUsers[r];
    for (let p = data.indptr[u]; p < data.indptr[u + 1]; p++) {
      const i = data.items[p];
      const c = data.types[p];
      if (stamp[i] !== r) {
        stamp[i] = r;
        bestType[i] = c;
      } else if (weightOf(c) > weightOf(bestType[i])) bestType[i] = c;
    }
    for (let p = train.indptr[r]; p < train.indptr[r + 1]; p++) if (stamp[train.items[p]] === r) train.types[p] = bestType[train.items[p]];
  }
}

/** The ranker's figures for the manifest (reliability tables stay in the ranker folder). */
function rankerMetrics(r: Extract<StoreRankerResult, { model: object }>['report']): Record<string, unknown> {
  const test = Object.fromEntries(Object.entries(r.test).map(([h, e]) => {
    const { reliability: _r, ...rest } = e;
    return [h, Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, typeof v === 'number' ? +v.toFixed(4) : v]))];
  }));
  return { model: r.model, samples: r.samples, epochs: r.fit.epochs, best_epoch: r.fit.bestEpoch, calibration: r.calibration, test, seconds: +r.seconds.toFixed(2) };
}

export type { Timelines };
