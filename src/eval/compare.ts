/**
 * Side-by-side offline comparison of retrieval models on one split: what `funnel evaluate`
 * runs. The split is made once (seeded), every model is fitted on its training users, LED
 * keeps the checkpoint with the best validation NDCG@100, and each model is scored on the test
 * users. The result is a Table-2-shaped report (model, loss, init, tuning, Recall@20,
 * Recall@50, NDCG@100, fit seconds) plus any extra metric asked for.
 *
 * Models (ids for `models`): pop, cbo, knn (item-kNN, PMI), knn-cos, ease (≤ 50K items), led
 * (CSS loss), led-bpr, rsvd (RSVD on PMI), led-svd (LED initialised from RSVD, Train).
 * Defaults are sensible, not tuned per dataset: `npm run bench -- retrieval` searches grids.
 */
import type { Progress } from '../util/progress.js';
import { CboModel } from '../models/retrieval/cbo.js';
import { EaseModel } from '../models/retrieval/ease.js';
import { ItemKnnModel } from '../models/retrieval/itemknn.js';
import { LedModel, type LedOptions } from '../models/retrieval/led.js';
import { PopularityModel } from '../models/retrieval/popularity.js';
import { RsvdModel } from '../models/retrieval/rsvd.js';
import { itemCounts, type RetrievalModel, type Timelines } from '../models/retrieval/types.js';
import { evaluate, heldOutNdcg } from './evaluate.js';
import { leaveOneOutSampled, strongGeneralization, temporalSplit, type Split } from './protocols.js';
import type { ReportRow } from './report.js';

export type Protocol = 'strong' | 'temporal' | 'loo';

export interface CompareOptions {
  /** 'strong' (default): Mult-VAE strong generalization; 'temporal': last n events per user;
   * 'loo': leave-one-out with sampled negatives (for comparison with older papers only). */
  protocol?: Protocol;
  /** Model ids (default: pop, knn, ease, led). */
  models?: string[];
  /** Metrics (default recall@20, recall@50, ndcg@100; loo: hit@10, ndcg@10). */
  metrics?: string[];
  /** Held-out users for validation and for test (strong; default 100 each). */
  heldOutUsers?: number;
  /** Temporal: events held out per user (default 1). */
  lastN?: number;
  /** Keep events with value > valueAbove (default 3.5 when the data has values, as Mult-VAE). */
  valueAbove?: number;
  /** LOO: sampled negatives (default 100). */
  negatives?: number;
  /** LED embedding size and epochs (defaults 64 and 50, early-stopped on validation). */
  dim?: number;
  epochs?: number;
  seed?: number;
  progress?: (modelId: string) => Progress | undefined;
  /** Called before each model is fitted. */
  onModel?: (modelId: string, index: number, total: number) => void;
}

export interface CompareResult {
  protocol: Split['protocol'];
  split: Split['stats'];
  rows: ReportRow[];
  /** Models asked for but not run, with the reason (e.g. EASE above 50K items). */
  skipped: { model: string; reason: string }[];
}

interface Spec {
  model: string;
  loss: string;
  init: string;
  tuning: string;
  create: () => RetrievalModel<never>;
  options: (split: Split, prepared: Record<string, unknown>) => Record<string, unknown>;
  prepare?: (split: Split) => Promise<Record<string, unknown>>;
  skip?: (split: Split) => string | undefined;
}

export const MODEL_IDS = ['pop', 'cbo', 'knn', 'knn-cos', 'ease', 'led', 'led-bpr', 'rsvd', 'led-svd'] as const;
const DEFAULT_MODELS = ['pop', 'knn', 'ease', 'led'];
const EASE_MAX_ITEMS = 50_000;

function specs(o: Required<Pick<CompareOptions, 'dim' | 'epochs' | 'seed'>>): Record<string, Spec> {
  // A fixed epoch budget (no early stopping, as the paper); the best validation checkpoint is kept.
  const led = (extra: Partial<LedOptions>) => (split: Split, prepared: Record<string, unknown>) => ({
    dim: o.dim, epochs: o.epochs, patience: o.epochs, batchSize: 32, seed: o.seed, validate: heldOutNdcg(split.validation), ...extra, ...prepared,
  });
  return {
    pop: { model: 'Popularity (GBO)', loss: '', init: '', tuning: '', create: () => new PopularityModel() as RetrievalModel<never>, options: () => ({}) },
    cbo: { model: 'CBO', loss: '', init: '', tuning: '', create: () => new CboModel() as RetrievalModel<never>, options: () => ({ clusters: 20, seed: o.seed }) },
    knn: { model: 'Item-kNN (PMI)', loss: '', init: '', tuning: '', create: () => new ItemKnnModel() as RetrievalModel<never>, options: () => ({ similarity: 'pmi', k: 100, minCount: 2 }) },
    'knn-cos': { model: 'Item-kNN (cosine)', loss: '', init: '', tuning: '', create: () => new ItemKnnModel() as RetrievalModel<never>, options: () => ({ similarity: 'cosine', k: 100, shrink: 20 }) },
    ease: {
      model: 'EASE', loss: 'Gauss', init: '', tuning: '', create: () => new EaseModel() as RetrievalModel<never>, options: () => ({ lambda: 200 }),
      skip: (s) => (s.numItems > EASE_MAX_ITEMS ? `${s.numItems} items: EASE needs a dense ${s.numItems}² inverse (limit ${EASE_MAX_ITEMS})` : undefined),
    },
    led: { model: 'LED', loss: 'CSS', init: 'Random', tuning: 'Train', create: () => new LedModel() as unknown as RetrievalModel<never>, options: led({ loss: 'css', negatives: 1000, lr: 0.002 }) },
    'led-bpr': { model: 'LED', loss: 'BPR', init: 'Random', tuning: 'Train', create: () => new LedModel() as unknown as RetrievalModel<never>, options: led({ loss: 'bpr', negatives: 1000, lr: 0.005 }) },
    rsvd: {
      model: 'RSVD (PMI)', loss: '', init: 'SVD', tuning: '',
      create: () => new RsvdModel() as RetrievalModel<never>,
      options: () => ({ dim: o.dim, seed: o.seed }),
    },
    'led-svd': {
      model: 'LED', loss: 'CSS', init: 'SVD', tuning: 'Train', create: () => new LedModel() as unknown as RetrievalModel<never>,
      prepare: async (split) => {
        const m = new RsvdModel();
        await m.fit(split.train, { dim: o.dim, seed: o.seed, singularPower: 0.5 }); // √σ-scaled vectors start LED best (measured)
        return { initVectors: m.itemVectors().vectors };
      },
      options: led({ loss: 'css', negatives: 1000, lr: 0.002 }),
    },
  };
}

/** Makes the split of `protocol` over `data` (seeded). */
export function makeSplit(data: Timelines, opts: CompareOptions = {}): Split {
  const seed = opts.seed ?? 1;
  // Explicit ratings (every event has a value, as MovieLens) get the Mult-VAE filter by default;
  // implicit logs (views, clicks... with values only on some events) keep every event.
  const rated = data.values !== undefined && data.values.length > 0 && data.values.every((v) => Number.isFinite(v));
  const valueAbove = 'valueAbove' in opts ? opts.valueAbove : rated ? 3.5 : undefined;
  switch (opts.protocol ?? 'strong') {
    case 'strong': {
      const n = opts.heldOutUsers ?? 100;
      return strongGeneralization(data, { valueAbove, minUserEvents: 5, validationUsers: n, testUsers: n, seed });
    }
    case 'temporal':
      return temporalSplit(data, { valueAbove, lastN: opts.lastN ?? 1, validationUsers: opts.heldOutUsers ?? 0.1, seed });
    case 'loo':
      return leaveOneOutSampled(data, { valueAbove, negatives: opts.negatives ?? 100, seed });
    default:
      throw new RangeError(`unknown protocol '${String(opts.protocol)}' (expected strong, temporal or loo)`);
  }
}

/** Fits and evaluates each model on one split of `data`. */
export async function compareModels(data: Timelines, opts: CompareOptions = {}): Promise<CompareResult> {
  const models = opts.models ?? DEFAULT_MODELS;
  for (const m of models) {
    if (!(MODEL_IDS as readonly string[]).includes(m)) throw new RangeError(`unknown model '${m}' (expected one of ${MODEL_IDS.join(', ')})`);
  }
  const split = makeSplit(data, opts);
  const metrics = opts.metrics ?? (split.protocol === 'leave-one-out-sampled' ? ['hit@10', 'ndcg@10'] : ['recall@20', 'recall@50', 'ndcg@100']);
  const all = specs({ dim: opts.dim ?? 64, epochs: opts.epochs ?? 50, seed: opts.seed ?? 1 });
  const popularity = itemCounts(split.train, true);
  const rows: ReportRow[] = [];
  const skipped: CompareResult['skipped'] = [];
  for (const [i, id] of models.entries()) {
    const spec = all[id];
    const why = spec.skip?.(split);
    if (why) {
      skipped.push({ model: id, reason: why });
      continue;
    }
    opts.onModel?.(id, i, models.length);
    const t0 = performance.now();
    const prepared = spec.prepare ? await spec.prepare(split) : {};
    const model = spec.create();
    await model.fit(split.train, spec.options(split, prepared) as never, opts.progress?.(id));
    const fitSeconds = (performance.now() - t0) / 1000;
    const r = await evaluate(model, split.test, { metrics: [...new Set([...metrics, 'coverage@100'])], popularity });
    rows.push({
      model: spec.model, loss: spec.loss, init: spec.init, tuning: spec.tuning,
      recall_at_20: r.metrics['recall@20'] ?? NaN, recall_at_50: r.metrics['recall@50'] ?? NaN, ndcg_at_100: r.metrics['ndcg@100'] ?? NaN,
      fit_seconds: +fitSeconds.toFixed(3), id, name: model.name, users: r.users,
      ...Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k.replace('@', '_at_'), v])),
    });
  }
  return { protocol: split.protocol, split: split.stats, rows, skipped };
}
