/**
 * Loading a trained artifact for serving, and the holder that swaps it atomically: a newer
 * artifact is loaded beside the current one and replaces it in one assignment, so in-flight
 * requests finish on the version they started with and no request fails during a swap.
 */
import { join } from 'node:path';
import { latestArtifact, readManifest, watchArtifacts, type ArtifactManifest } from '../artifacts/registry.js';
import { loadModel } from '../models/retrieval/registry.js';
import type { ItemKnnModel } from '../models/retrieval/itemknn.js';
import type { LedModel } from '../models/retrieval/led.js';
import type { PopularityModel } from '../models/retrieval/popularity.js';
import { topK } from '../models/retrieval/types.js';
import type { ModelHolder } from '../server/types.js';
import { loadItemIndex } from '../train/index-build.js';
import type { VectorIndex } from '../index/types.js';

export interface LoadedArtifact {
  version: string;
  dir: string;
  manifest: ArtifactManifest;
  led: LedModel;
  itemknn: ItemKnnModel;
  popularity: PopularityModel;
  /** Items by decreasing popularity (the 'popular' generator's list). */
  popularList: { items: Int32Array; scores: Float32Array };
  /** LED's item index (exact or HNSW, as trained). */
  index: VectorIndex;
}

export async function loadArtifact(dir: string): Promise<LoadedArtifact> {
  const manifest = readManifest(dir);
  const need = (name: string) => {
    const c = manifest.components[name];
    if (!c) throw new Error(`${dir}: artifact has no '${name}' component`);
    return join(dir, c.path);
  };
  const led = (await loadModel(need('led'))) as unknown as LedModel;
  const itemknn = (await loadModel(need('itemknn'))) as unknown as ItemKnnModel;
  const popularity = (await loadModel(need('popularity'))) as unknown as PopularityModel;
  const pop = popularity.popularity();
  const popularList = topK(pop, Math.min(pop.length, 10_000));
  const index = await loadItemIndex(need('index'), led);
  return { version: manifest.version, dir, manifest, led, itemknn, popularity, popularList, index };
}

/**
 * Holds the newest artifact of a model folder. `reload()` loads the newest one if it differs;
 * `watch()` reloads by itself when a new one appears. A failed load keeps the current model.
 */
export class ArtifactHolder implements ModelHolder<LoadedArtifact> {
  private cur: LoadedArtifact | undefined;
  private loading: Promise<string | undefined> | undefined;
  private stopWatch: (() => void) | undefined;
  lastError: Error | undefined;

  constructor(readonly root: string, private readonly onSwap?: (a: LoadedArtifact) => void) {}

  current(): LoadedArtifact | undefined {
    return this.cur;
  }

  version(): string | undefined {
    return this.cur?.version;
  }

  reload(): Promise<string | undefined> {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const dir = latestArtifact(this.root);
        if (!dir || dir === this.cur?.dir) return this.cur?.version;
        const next = await loadArtifact(dir);
        this.cur = next; // the atomic swap
        this.lastError = undefined;
        this.onSwap?.(next);
        return next.version;
      } catch (err) {
        this.lastError = err as Error;
        return this.cur?.version;
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }

  watch(pollMs = 2000): void {
    this.stopWatch?.();
    this.stopWatch = watchArtifacts(this.root, () => this.cur?.dir, () => void this.reload(), pollMs);
  }

  async close(): Promise<void> {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }
}
