/**
 * Training the ranker from a store (what `funnel train` runs when a scene scores with the
 * ranker): the catalog and the logged events with their context are read from the store, the
 * log is replayed through a fresh in-memory profile store into leakage-free samples, and the
 * ranker is trained, calibrated and measured (trainer.ts).
 */
import { ColumnarCatalog } from '../funnel/catalog.js';
import { MemoryProfileStore, type MemoryProfileOptions } from '../profiles/memory.js';
import type { Store } from '../store/types.js';
import { FeatureExtractor, FeatureSpace, type FeatureConfig } from './features.js';
import type { RankingModel } from './model.js';
import { buildSamples, loggedEventsFromStore, type LabelOptions, type SampleReport } from './samples.js';
import { trainRanker, type RankerTrainingReport, type RankerTrainOptions } from './trainer.js';

export interface StoreRankerOptions extends RankerTrainOptions, LabelOptions {
  features?: Partial<FeatureConfig>;
  /** The replay's profile store settings (recorded in the model for the serving store); recentSize defaults to 200. */
  profiles?: Pick<MemoryProfileOptions, 'recentSize' | 'types' | 'levels'>;
  /** Fewer samples than this: no ranker (default 200). */
  minSamples?: number;
  log?: (line: string) => void;
}

export type StoreRankerResult =
  | { model: RankingModel; report: RankerTrainingReport; samples: SampleReport }
  | { model: undefined; reason: string; samples?: SampleReport };

export async function trainRankerFromStore(store: Store, opts: StoreRankerOptions = {}): Promise<StoreRankerResult> {
  const log = opts.log ?? (() => {});
  const features = opts.features ?? {};
  const builtin = new Set(['categories', 'tags', 'price', 'createdAt', 'available']);
  const attributes = [...(features.itemFields ?? []), features.affinity?.field ?? 'categories'].filter((f) => !builtin.has(f));
  const catalog = await ColumnarCatalog.fromStore(store, { attributes });
  const events = await loggedEventsFromStore(store);
  const impType = opts.impressionType ?? 'impression';
  if (!events.typeNames.includes(impType)) return { model: undefined, reason: `no '${impType}' events in the store: nothing to learn a ranker from` };
  const space = new FeatureSpace(features, catalog);
  const profileOpts = { recentSize: 200, ...opts.profiles };
  const profiles = new MemoryProfileStore(profileOpts);
  const keys = space.profileKeys();
  profiles.setItemKeys(keys.items, keys.keys);
  const extractor = new FeatureExtractor(space, profiles);
  log(`ranker: replaying ${events.length} events into samples`);
  const { samples, report: sr } = await buildSamples(events, extractor, opts);
  log(`ranker: ${sr.samples} samples from ${sr.requests} requests, ${sr.labels.clicks} clicks, ${sr.labels.conversions} conversions (${(sr.ms / 1000).toFixed(1)} s)`);
  const min = opts.minSamples ?? 200;
  if (samples.size < min) return { model: undefined, reason: `only ${samples.size} impressions (at least ${min} needed)`, samples: sr };
  if (sr.labels.clicks === 0) return { model: undefined, reason: 'no click follows any impression', samples: sr };
  const { model, report } = await trainRanker(space, samples, opts);
  model.meta.profiles = { ...profileOpts };
  return { model, report, samples: sr };
}
