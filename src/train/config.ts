/**
 * The scene configuration: what `funnel train` builds and how `funnel serve` runs the funnel.
 * One JSON file (the `scenes` and `training` sections of funnel.config.json), every field
 * optional; `resolveConfig` fills the defaults and reports every problem with its path.
 *
 * {
 *   "training": {
 *     "eventTypes": ["view", "click", "add_to_cart", "purchase", "rating", "like"],
 *     "minRating": 3.5,                       // rating events at or below are not positives
 *     "typeWeights": { "view": 1, "add_to_cart": 3, "purchase": 5 },  // per event type (default 1;
 *                                             // >= 0, 0: not a positive): LED target weights and
 *                                             // popularity; types not listed weigh 1
 *     "led": { "dim": 64, "loss": "bpr", "negatives": 200, "epochs": 20 },
 *     "itemknn": { "similarity": "cosine", "k": 100 },
 *     "popularity": { "halfLifeDays": 14 },
 *     "validationUsers": 500,                 // held out to pick the LED checkpoint
 *     "index": { "kind": "auto", "annMinItems": 20000, "lists": 0, "probe": 0 },  // IVF from 20K items on
 *                                             // (lists/probe 0: sized to the catalogue); HNSW:
 *                                             // "kind": "hnsw", "m": 16, "efConstruction": 100,
 *                                             // "efSearch": 200, "bands": 2
 *     "ranker": {                             // trained when a scene has "scorer": "ranker"
 *       "model": "fm",                        // "lr" (FTRL) or "fm"
 *       "heads": { "click": 1, "conversion": 0.5 },  // weights of the combined score
 *       "calibration": "isotonic",            // or "platt", "none"
 *       "features": { "bits": 18 }            // rank/features.ts FeatureConfig
 *     }
 *   },
 *   "scenes": {
 *     "home": {
 *       "k": 20,
 *       "generators": [
 *         { "type": "led", "quota": 200 },
 *         { "type": "itemknn", "quota": 100, "lastN": 5 },
 *         { "type": "popular", "quota": 100 },
 *         { "type": "fresh", "quota": 50, "maxAgeDays": 7 }
 *       ],
 *       "scorer": "ranker",                   // default "rank_fusion"; "ranker" needs training.ranker
 *       "rules": [ { "rule": "diversity", "maxPerCategory": 3, "topK": 20 } ]
 *     }
 *   }
 * }
 */
import { readFileSync } from 'node:fs';
import { RULES } from '../funnel/rules.js';
import type { LedOptions } from '../models/retrieval/led.js';
import type { ItemKnnOptions } from '../models/retrieval/itemknn.js';
import type { PopularityOptions } from '../models/retrieval/popularity.js';
import type { FeatureConfig } from '../rank/features.js';
import type { FmOptions } from '../rank/fm.js';
import type { LrOptions } from '../rank/lr.js';

export const GENERATOR_TYPES = ['led', 'itemknn', 'popular', 'fresh'] as const;
export type GeneratorType = (typeof GENERATOR_TYPES)[number];

export interface GeneratorConfig {
  type: GeneratorType;
  /** Candidates contributed at most. */
  quota: number;
  /** Weight in rank fusion (default 1). */
  weight?: number;
  /** itemknn: neighbours of the last N history items (default 5). */
  lastN?: number;
  /** fresh: items created within this many days (default 7). */
  maxAgeDays?: number;
  /** Display name (default: the type); must be unique in a scene. */
  name?: string;
}

export const SCORERS = ['rank_fusion', 'ranker'] as const;
export type ScorerType = (typeof SCORERS)[number];

export interface SceneConfig {
  k: number;
  /** The scoring step: reciprocal-rank fusion (default) or the trained ranker (falls back to rank fusion without one). */
  scorer?: ScorerType;
  /** History length read per request (default 50). */
  historyLength: number;
  generators: GeneratorConfig[];
  rules: Record<string, unknown>[];
}

/**
 * The `training.index` section: the item index LED retrieval searches at serving time
 * (src/index/). 'auto' builds the IVF index from `annMinItems` items on and the exact index
 * below; 'hnsw' builds the graph index instead (README, Architecture: why IVF by default).
 */
export interface ItemIndexConfig {
  kind: 'auto' | 'exact' | 'hnsw' | 'ivf';
  /**
   * Catalogue size (items known to LED) from which 'auto' builds an approximate index (default
   * 20,000). `hnswMinItems`, its name before the IVF index, is still read.
   */
  annMinItems: number;
  /** IVF lists (default 0: about 4·√items). */
  lists: number;
  /** IVF lists scanned per search (default 0: 3% of the lists, at least 8). */
  probe: number;
  /** HNSW links per node (default 16). */
  m: number;
  /** HNSW build breadth (default 100). */
  efConstruction: number;
  /** HNSW search breadth (default 200; a search for more items uses at least that many). */
  efSearch: number;
  /** Norm bands, one graph each (default 2; see src/index/hnsw.ts). */
  bands: number;
}

export interface TrainingConfig {
  eventTypes: string[];
  minRating: number;
  /**
   * Weight per event type name (finite, >= 0; types not listed weigh 1; custom types allowed).
   * LED weighs each positive's loss term by it (targets only; weight-0 types are never
   * targets); popularity sums event weights (count 'users': a user's largest weight on the
   * item). Item-kNN ignores it.
   */
  typeWeights: Record<string, number>;
  led: Omit<LedOptions, 'validate' | 'onEpoch' | 'initVectors' | 'inputTypes' | 'targetTypes' | 'typeWeights'>;
  itemknn: ItemKnnOptions;
  popularity: Omit<PopularityOptions, 'categories' | 'now' | 'typeWeights'>;
  validationUsers: number;
  index: ItemIndexConfig;
  ranker: RankerConfig;
}

/** The `training.ranker` section: the ranking stage's training (rank/from-store.ts). */
export interface RankerConfig {
  model: 'lr' | 'fm';
  /** Heads trained and their weights in the combined score. */
  heads: Record<string, number>;
  calibration: 'isotonic' | 'platt' | 'none';
  features: Partial<FeatureConfig>;
  lr: LrOptions;
  fm: FmOptions;
  /** Clicks / conversions later than this after the impression do not label it (ms). */
  clickWindowMs: number;
  conversionWindowMs: number;
  epochs?: number;
}

export interface FunnelConfig {
  training: TrainingConfig;
  scenes: Record<string, SceneConfig>;
}

export const DEFAULT_SCENE: SceneConfig = {
  k: 20,
  historyLength: 50,
  generators: [
    { type: 'led', quota: 200 },
    { type: 'itemknn', quota: 100, lastN: 5 },
    { type: 'popular', quota: 100 },
    { type: 'fresh', quota: 50, maxAgeDays: 7 },
  ],
  rules: [],
};

export const DEFAULT_TRAINING: TrainingConfig = {
  eventTypes: ['view', 'click', 'add_to_cart', 'purchase', 'rating', 'like', 'share'],
  minRating: 3.5,
  typeWeights: {},
  led: { dim: 64, loss: 'bpr', negatives: 200, epochs: 20, batchSize: 256, lr: 0.005, patience: 3 },
  itemknn: { similarity: 'cosine', k: 100 },
  popularity: { halfLifeDays: 14 },
  validationUsers: 500,
  index: { kind: 'auto', annMinItems: 20_000, lists: 0, probe: 0, m: 16, efConstruction: 100, efSearch: 200, bands: 2 },
  ranker: {
    model: 'lr',
    heads: { click: 1 },
    calibration: 'isotonic',
    features: {},
    lr: {},
    fm: {},
    clickWindowMs: 30 * 60_000,
    conversionWindowMs: 86_400_000,
  },
};

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fills defaults and validates; throws one error listing every problem with its JSON path. */
export function resolveConfig(raw: unknown, source = 'config'): FunnelConfig {
  const errors: string[] = [];
  const root = raw === undefined ? {} : raw;
  if (!isObj(root)) throw new Error(`${source}: must be a JSON object`);
  const t = root.training === undefined ? {} : root.training;
  const training: TrainingConfig = structuredClone(DEFAULT_TRAINING);
  if (!isObj(t)) errors.push('training: must be an object');
  else {
    if (t.eventTypes !== undefined) {
      if (!Array.isArray(t.eventTypes) || t.eventTypes.some((x) => typeof x !== 'string') || t.eventTypes.length === 0) errors.push('training.eventTypes: must be a non-empty array of event type names');
      else training.eventTypes = t.eventTypes as string[];
    }
    if (t.typeWeights !== undefined) {
      const tw = t.typeWeights;
      if (!isObj(tw)) errors.push('training.typeWeights: must be an object mapping event type names to weights >= 0');
      else {
        let ok = true;
        for (const [name, w] of Object.entries(tw)) {
          if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
            errors.push(`training.typeWeights.${name}: must be a number >= 0`);
            ok = false;
          }
        }
        if (ok) training.typeWeights = { ...(tw as Record<string, number>) };
      }
    }
    if (t.minRating !== undefined) {
      if (typeof t.minRating !== 'number') errors.push('training.minRating: must be a number');
      else training.minRating = t.minRating;
    }
    if (t.validationUsers !== undefined) {
      if (!Number.isInteger(t.validationUsers) || (t.validationUsers as number) < 0) errors.push('training.validationUsers: must be an integer >= 0');
      else training.validationUsers = t.validationUsers as number;
    }
    for (const key of ['led', 'itemknn', 'popularity'] as const) {
      const v = t[key];
      if (v === undefined) continue;
      if (!isObj(v)) errors.push(`training.${key}: must be an object`);
      else Object.assign(training[key], v);
    }
    if (t.index !== undefined) {
      const ix = t.index;
      if (!isObj(ix)) errors.push('training.index: must be an object');
      else {
        const out = training.index;
        for (const [k, v] of Object.entries(ix)) {
          const p = `training.index.${k}`;
          switch (k) {
            case 'kind':
              if (v !== 'auto' && v !== 'exact' && v !== 'hnsw' && v !== 'ivf') errors.push(`${p}: must be 'auto', 'exact', 'ivf' or 'hnsw'`);
              else out.kind = v;
              break;
            case 'hnswMinItems':
            case 'annMinItems':
              if (!Number.isInteger(v) || (v as number) < 0) errors.push(`${p}: must be an integer >= 0`);
              else out.annMinItems = v as number;
              break;
            case 'lists':
            case 'probe':
              if (!Number.isInteger(v) || (v as number) < 0) errors.push(`${p}: must be an integer >= 0 (0: sized to the catalogue)`);
              else out[k] = v as number;
              break;
            case 'm':
            case 'efConstruction':
            case 'efSearch':
            case 'bands': {
              const min = k === 'm' ? 2 : 1;
              const max = k === 'bands' ? 64 : Infinity;
              if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) errors.push(`${p}: must be an integer >= ${min}${max < Infinity ? ` and <= ${max}` : ''}`);
              else out[k] = v as number;
              break;
            }
            default:
              errors.push(`${p}: unknown setting`);
          }
        }
      }
    }
    if (t.ranker !== undefined) resolveRanker(t.ranker, training.ranker, errors);
    if (training.eventTypes.every((ty) => (training.typeWeights[ty] ?? 1) === 0)) {
      errors.push('training.typeWeights: every type of training.eventTypes has weight 0 (nothing to learn from)');
    }
    for (const k of Object.keys(t)) if (!['eventTypes', 'minRating', 'typeWeights', 'validationUsers', 'led', 'itemknn', 'popularity', 'index', 'ranker'].includes(k)) errors.push(`training.${k}: unknown setting`);
  }
  const scenes: Record<string, SceneConfig> = {};
  const s = root.scenes;
  if (s === undefined) scenes.default = structuredClone(DEFAULT_SCENE);
  else if (!isObj(s) || Object.keys(s).length === 0) errors.push('scenes: must be an object with at least one scene');
  else {
    for (const [name, sc] of Object.entries(s)) {
      const path = `scenes.${name}`;
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) errors.push(`${path}: scene names are 1-64 letters, digits, '_' or '-'`);
      if (!isObj(sc)) {
        errors.push(`${path}: must be an object`);
        continue;
      }
      const scene: SceneConfig = { k: DEFAULT_SCENE.k, historyLength: DEFAULT_SCENE.historyLength, generators: [], rules: [] };
      if (sc.k !== undefined) {
        if (!Number.isInteger(sc.k) || (sc.k as number) < 1 || (sc.k as number) > 1000) errors.push(`${path}.k: must be an integer in 1..1000`);
        else scene.k = sc.k as number;
      }
      if (sc.historyLength !== undefined) {
        if (!Number.isInteger(sc.historyLength) || (sc.historyLength as number) < 1) errors.push(`${path}.historyLength: must be an integer >= 1`);
        else scene.historyLength = sc.historyLength as number;
      }
      const gens = sc.generators === undefined ? structuredClone(DEFAULT_SCENE.generators) : sc.generators;
      if (!Array.isArray(gens) || gens.length === 0) errors.push(`${path}.generators: must be a non-empty array`);
      else {
        const names = new Set<string>();
        gens.forEach((g, i) => {
          const gp = `${path}.generators[${i}]`;
          if (!isObj(g)) return void errors.push(`${gp}: must be an object`);
          if (!GENERATOR_TYPES.includes(g.type as GeneratorType)) errors.push(`${gp}.type: unknown generator '${String(g.type)}' (expected ${GENERATOR_TYPES.join(', ')})`);
          if (!Number.isInteger(g.quota) || (g.quota as number) < 1) errors.push(`${gp}.quota: must be an integer >= 1`);
          if (g.weight !== undefined && (typeof g.weight !== 'number' || g.weight < 0)) errors.push(`${gp}.weight: must be a number >= 0`);
          const nm = (g.name as string | undefined) ?? String(g.type);
          if (names.has(nm)) errors.push(`${gp}: a generator named '${nm}' already exists in this scene (set "name")`);
          names.add(nm);
          scene.generators.push(g as unknown as GeneratorConfig);
        });
      }
      if (sc.scorer !== undefined) {
        if (!SCORERS.includes(sc.scorer as ScorerType)) errors.push(`${path}.scorer: must be one of ${SCORERS.join(', ')}`);
        else scene.scorer = sc.scorer as ScorerType;
      }
      if (sc.rules !== undefined) {
        if (!Array.isArray(sc.rules) || sc.rules.some((r) => !isObj(r))) errors.push(`${path}.rules: must be an array of rule objects`);
        else {
          // Full checks (fields, attributes) run against the catalog when the service loads.
          (sc.rules as Record<string, unknown>[]).forEach((r, i) => {
            if (typeof r.rule !== 'string' || !(RULES as readonly string[]).includes(r.rule)) {
              errors.push(`${path}.rules[${i}].rule: unknown rule ${JSON.stringify(r.rule)} (expected one of ${RULES.join(', ')})`);
            }
          });
          scene.rules = sc.rules as Record<string, unknown>[];
        }
      }
      scenes[name] = scene;
    }
  }
  for (const k of Object.keys(root)) if (!['training', 'scenes', 'apps', 'server', 'keys', '$schema'].includes(k)) errors.push(`${k}: unknown section`);
  if (errors.length) throw new Error(`${source}: ${errors.length} problem${errors.length > 1 ? 's' : ''}:\n  ${errors.join('\n  ')}`);
  return { training, scenes };
}

function resolveRanker(v: unknown, out: RankerConfig, errors: string[]): void {
  const p = 'training.ranker';
  if (!isObj(v)) return void errors.push(`${p}: must be an object`);
  for (const [k, x] of Object.entries(v)) {
    switch (k) {
      case 'model':
        if (x !== 'lr' && x !== 'fm') errors.push(`${p}.model: must be 'lr' or 'fm'`);
        else out.model = x;
        break;
      case 'heads':
        if (!isObj(x) || Object.keys(x).length === 0 || Object.entries(x).some(([h, w]) => !['click', 'conversion'].includes(h) || typeof w !== 'number' || !(w >= 0))) {
          errors.push(`${p}.heads: must map 'click' and/or 'conversion' to weights >= 0`);
        } else if (!Object.values(x).some((w) => (w as number) > 0)) errors.push(`${p}.heads: at least one weight must be > 0`);
        else out.heads = x as Record<string, number>;
        break;
      case 'calibration':
        if (x !== 'isotonic' && x !== 'platt' && x !== 'none') errors.push(`${p}.calibration: must be 'isotonic', 'platt' or 'none'`);
        else out.calibration = x;
        break;
      case 'features':
      case 'lr':
      case 'fm':
        if (!isObj(x)) errors.push(`${p}.${k}: must be an object`);
        else Object.assign(out[k], x);
        break;
      case 'clickWindowMs':
      case 'conversionWindowMs':
        if (typeof x !== 'number' || !(x > 0)) errors.push(`${p}.${k}: must be a number of ms > 0`);
        else out[k] = x;
        break;
      case 'epochs':
        if (!Number.isInteger(x) || (x as number) < 1) errors.push(`${p}.epochs: must be an integer >= 1`);
        else out.epochs = x as number;
        break;
      default:
        errors.push(`${p}.${k}: unknown setting`);
    }
  }
}

export function loadConfigFile(path: string | undefined): FunnelConfig {
  if (!path) return resolveConfig(undefined);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  return resolveConfig(raw, path);
}
