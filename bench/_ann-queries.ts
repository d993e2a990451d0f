/**
 * The real user queries of the ANN development aids (bench/_ann-params.ts, bench/_ivf-params.ts):
 * the serve bench's artifact and store (`npm run bench -- serve` first), `count` users' encoded
 * histories with those histories to exclude, the exact top 100 and 200 of each, an all-ones
 * availability mask, and a CPU clock in ms.
 */
import { join } from 'node:path';
import { serveModelsDir } from './serve.js';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact, type LoadedArtifact } from '../src/serving/artifact.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { ExactIndex } from '../src/index/exact.js';

export interface AnnQueries {
  art: LoadedArtifact;
  vectors: Float32Array;
  biases: Float32Array;
  dim: number;
  queries: { u: Float32Array; ex: Set<number> }[];
  /** The exact top 100 / 200 of each query (history excluded). */
  truth100: Set<number>[];
  truth200: Set<number>[];
  mask: Uint8Array;
}

export const cpuMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

export async function annQueries(count: number): Promise<AnnQueries> {
  const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
  const store = await SqliteStore.open(join(root, 'funnel.db'));
  const art = await loadArtifact(latestArtifact(serveModelsDir(root))!);
  const { vectors, biases: b, dim } = art.led.itemVectors();
  const biases = b ?? new Float32Array(art.led.numItems);
  const exact = ExactIndex.adopt(vectors, biases, dim);
  const queries: AnnQueries['queries'] = [];
  for (let i = 0; i < count; i++) {
    const h = await store.history(`u${(i * 7919) % 100000}`, { types: ['view', 'click', 'purchase', 'add_to_cart', 'like', 'rating'], limit: 50 });
    queries.push({ u: art.led.encodeUser(h.itemIdx), ex: new Set(h.itemIdx) });
  }
  await store.close();
  const truth = (k: number) => queries.map((q) => new Set(exact.search(q.u, k, { exclude: q.ex }).ids));
  return { art, vectors, biases, dim, queries, truth100: truth(100), truth200: truth(200), mask: new Uint8Array(biases.length).fill(1) };
}
