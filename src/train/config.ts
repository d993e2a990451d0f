/**
 * The scene configuration: what `funnel train` builds and how `funnel serve` runs the funnel.
 * One JSON file (the `scenes` and `training` sections of funnel.config.json), every field
 * optional; `resolveConfig` fills the defaults and reports every problem with its path.
 *
 * {
 *   "training": {
 *     "eventTypes": ["view", "click", "add_to_cart", "purchase", "rating", "like"],
 *     "minRating": 3.5,                       // rating events at or below are not positives
 *     "led": { "dim": 64, "loss": "bpr", "negatives": 200, "epochs": 20 },
 *     "itemknn": { "similarity": "cosine", "k": 100 },
 *     "popularity": { "halfLifeDays": 14 },
 *     "validationUsers": 500                  // held out to pick the LED checkpoint
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
 *       "rules": [ { "rule": "diversity", "maxPerCategory": 3, "topK": 20 } ]
 *     }
 *   }
 * }
 */
import { readFileSync } from 'node:fs';
import type { LedOptions } from '../models/retrieval/led.js';
import type { ItemKnnOptions } from '../models/retrieval/itemknn.js';
import type { PopularityOptions } from '../models/retrieval/popularity.js';

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

export interface SceneConfig {
  k: number;
  /** History length read per request (default 50). */
  historyLength: number;
  generators: GeneratorConfig[];
  rules: Record<string, unknown>[];
}

export interface TrainingConfig {
  eventTypes: string[];
  minRating: number;
  led: Omit<LedOptions, 'validate' | 'onEpoch' | 'initVectors' | 'inputTypes' | 'targetTypes'>;
  itemknn: ItemKnnOptions;
  popularity: Omit<PopularityOptions, 'categories' | 'now'>;
  validationUsers: number;
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
  led: { dim: 64, loss: 'bpr', negatives: 200, epochs: 20, batchSize: 256, lr: 0.005, patience: 3 },
  itemknn: { similarity: 'cosine', k: 100 },
  popularity: { halfLifeDays: 14 },
  validationUsers: 500,
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
    for (const k of Object.keys(t)) if (!['eventTypes', 'minRating', 'validationUsers', 'led', 'itemknn', 'popularity'].includes(k)) errors.push(`training.${k}: unknown setting`);
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
      if (sc.rules !== undefined) {
        if (!Array.isArray(sc.rules) || sc.rules.some((r) => !isObj(r))) errors.push(`${path}.rules: must be an array of rule objects`);
        else scene.rules = sc.rules as Record<string, unknown>[];
      }
      scenes[name] = scene;
    }
  }
  for (const k of Object.keys(root)) if (!['training', 'scenes', 'apps', 'server', 'keys', '$schema'].includes(k)) errors.push(`${k}: unknown section`);
  if (errors.length) throw new Error(`${source}: ${errors.length} problem${errors.length > 1 ? 's' : ''}:\n  ${errors.join('\n  ')}`);
  return { training, scenes };
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
