/**
 * A deployable ranking model: the feature space (configuration + fitted normaliser), a trained
 * `Ranker`, one calibrator per head and the weights that combine the heads into one score:
 *
 *   score = Σ_h weight_h · calibrated p_h
 *
 * (e.g. { click: 1, conversion: 0.5 }). Saved as a folder: `ranking.json` (features, heads,
 * weights, calibrators, training report) and `ranker/` (the model's own files, registry.ts).
 * Serving loads it with the catalog it serves (`RankingModel.load(dir, catalog)`), since item
 * attributes are hashed per catalog.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ItemCatalog } from '../funnel/catalog.js';
import { calibratorFromJSON, IdentityCalibrator, type Calibrator, type CalibratorJSON } from './calibration.js';
import { FeatureSpace, type FeatureSpaceJSON } from './features.js';
import { loadRanker } from './registry.js';
import { sigmoid, type FeatureBatch, type Ranker } from './types.js';

export const RANKING_FILE = 'ranking.json';
export const RANKING_FORMAT = 'funnel-ranking-model';

export interface RankingModelJSON {
  format: typeof RANKING_FORMAT;
  formatVersion: 1;
  features: FeatureSpaceJSON;
  heads: { name: string; weight: number; calibration: CalibratorJSON }[];
  /** Settings the serving profile store should share with the one samples were built with. */
  profiles?: Record<string, unknown>;
  report?: unknown;
}

export class RankingModel {
  readonly weights: Float64Array;
  private probs: Float32Array[] = [];

  /**
   * @param headWeights weight per head name (heads absent weigh 0); at least one must be > 0.
   * @param calibrators per head (in the ranker's head order); identity when absent.
   */
  constructor(
    readonly space: FeatureSpace,
    readonly ranker: Ranker,
    headWeights: Record<string, number>,
    readonly calibrators: Calibrator[] = [],
    readonly meta: { profiles?: Record<string, unknown>; report?: unknown } = {},
  ) {
    if (ranker.dim !== space.dim) throw new RangeError(`ranking model: the ranker's dim ${ranker.dim} differs from the feature space's ${space.dim}`);
    for (const h of Object.keys(headWeights)) if (!ranker.heads.includes(h)) throw new RangeError(`ranking model: head '${h}' is not one of the ranker's (${ranker.heads.join(', ')})`);
    this.weights = Float64Array.from(ranker.heads, (h) => {
      const w = headWeights[h] ?? 0;
      if (!Number.isFinite(w) || w < 0) throw new RangeError(`ranking model: weight of head '${h}' must be a finite number >= 0, got ${w}`);
      return w;
    });
    if (!this.weights.some((w) => w > 0)) throw new RangeError('ranking model: at least one head needs a positive weight');
    while (this.calibrators.length < ranker.heads.length) this.calibrators.push(new IdentityCalibrator());
  }

  get name(): string {
    return this.ranker.name;
  }

  /** Calibrated probabilities per head (arrays reused by the next call). */
  probabilities(batch: FeatureBatch): Float32Array[] {
    const n = batch.rows.rows;
    if (this.probs.length === 0 || this.probs[0].length < n) this.probs = this.ranker.heads.map(() => new Float32Array(Math.max(n, 64)));
    const views = this.probs.map((a) => a.subarray(0, n));
    this.ranker.predict(batch, views);
    for (let h = 0; h < views.length; h++) {
      const c = this.calibrators[h];
      if (c.kind === 'identity' || this.weights[h] === 0) continue;
      const v = views[h];
      for (let r = 0; r < n; r++) v[r] = c.map(v[r]);
    }
    return views;
  }

  /** One score per candidate: Σ_h weight_h · calibrated p_h. */
  score(batch: FeatureBatch, out?: Float32Array): Float32Array {
    const n = batch.rows.rows;
    return this.combine(this.probabilities(batch), n, out ?? new Float32Array(n));
  }

  /**
   * Scores from the heads' logits (one array per head, `n` entries; heads of weight 0 are not
   * read): σ, calibration and the weighted sum, exactly as `score` does after the ranker's
   * `logits`. The arrays are overwritten with the calibrated probabilities.
   */
  scoreLogits(logits: Float32Array[], n: number, out: Float32Array = new Float32Array(n)): Float32Array {
    for (let h = 0; h < logits.length; h++) {
      if (this.weights[h] === 0) continue;
      const z = logits[h];
      for (let r = 0; r < n; r++) z[r] = sigmoid(z[r]);
      const c = this.calibrators[h];
      if (c.kind !== 'identity') for (let r = 0; r < n; r++) z[r] = c.map(z[r]);
    }
    return this.combine(logits, n, out);
  }

  private combine(p: Float32Array[], n: number, res: Float32Array): Float32Array {
    res.fill(0, 0, n);
    for (let h = 0; h < p.length; h++) {
      const w = this.weights[h];
      if (w === 0) continue;
      const v = p[h];
      for (let r = 0; r < n; r++) res[r] += w * v[r];
    }
    return res;
  }

  /** The same model over another catalog (after a catalog refresh). */
  withCatalog(catalog: ItemCatalog): RankingModel {
    return new RankingModel(this.space.withCatalog(catalog), this.ranker, this.headWeights(), this.calibrators, this.meta);
  }

  headWeights(): Record<string, number> {
    return Object.fromEntries(this.ranker.heads.map((h, k) => [h, this.weights[k]]));
  }

  toJSON(): RankingModelJSON {
    return {
      format: RANKING_FORMAT,
      formatVersion: 1,
      features: this.space.toJSON(),
      heads: this.ranker.heads.map((name, k) => ({ name, weight: this.weights[k], calibration: this.calibrators[k].toJSON() })),
      ...(this.meta.profiles ? { profiles: this.meta.profiles } : {}),
      ...(this.meta.report !== undefined ? { report: this.meta.report } : {}),
    };
  }

  async save(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await this.ranker.save(join(dir, 'ranker'));
    const tmp = join(dir, `${RANKING_FILE}.tmp`);
    await writeFile(tmp, JSON.stringify(this.toJSON(), null, 2) + '\n');
    await rename(tmp, join(dir, RANKING_FILE));
  }

  /** Whether `dir` holds a saved ranking model. */
  static exists(dir: string): boolean {
    return existsSync(join(dir, RANKING_FILE));
  }

  static async load(dir: string, catalog: ItemCatalog): Promise<RankingModel> {
    let j: RankingModelJSON;
    try {
      j = JSON.parse(await readFile(join(dir, RANKING_FILE), 'utf8')) as RankingModelJSON;
    } catch (e) {
      throw new Error(`no ranking model in ${dir}: cannot read ${RANKING_FILE} (${(e as Error).message})`);
    }
    if (j.format !== RANKING_FORMAT) throw new Error(`${join(dir, RANKING_FILE)}: format '${String(j.format)}' is not '${RANKING_FORMAT}'`);
    const ranker = await loadRanker(join(dir, 'ranker'));
    const space = FeatureSpace.fromJSON(j.features, catalog);
    const byName = new Map(j.heads.map((h) => [h.name, h]));
    const calibrators = ranker.heads.map((h) => {
      const c = byName.get(h)?.calibration;
      return c ? calibratorFromJSON(c) : new IdentityCalibrator();
    });
    return new RankingModel(space, ranker, Object.fromEntries(j.heads.map((h) => [h.name, h.weight])), calibrators, {
      ...(j.profiles ? { profiles: j.profiles } : {}),
      ...(j.report !== undefined ? { report: j.report } : {}),
    });
  }
}

/**
 * The ranking model of a trained artifact (its `ranker` component, as `funnel train` writes it),
 * or undefined when the artifact has none: what serving calls to give `RankerScorer` a model.
 */
export async function loadRankingComponent(artifactDir: string, components: Record<string, { kind: string; path: string }>, catalog: ItemCatalog): Promise<RankingModel | undefined> {
  const c = components.ranker;
  if (!c) return undefined;
  if (!c.kind.startsWith('ranker:')) throw new Error(`${artifactDir}: component 'ranker' has kind '${c.kind}' (expected ranker:*)`);
  return RankingModel.load(join(artifactDir, c.path), catalog);
}
