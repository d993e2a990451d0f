import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { serveModelsDir } from './serve.js';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact } from '../src/serving/artifact.js';
import { SqliteStore } from '../src/store/sqlite.js';
const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
const store = await SqliteStore.open(join(root, 'funnel.db'));
const art = await loadArtifact(latestArtifact(serveModelsDir(root))!);
const { vectors, biases, dim } = art.led.itemVectors();
writeFileSync('/tmp/ivf/vec.f32', vectors); writeFileSync('/tmp/ivf/bias.f32', biases!);
const nq = 1000; const qs = new Float32Array(nq * dim); const ex: number[] = [];
for (let i = 0; i < nq; i++) {
  const h = await store.history(`u${(i * 7919) % 100000}`, { types: ['view', 'click', 'purchase', 'add_to_cart', 'like', 'rating'], limit: 50 });
  qs.set(art.led.encodeUser(h.itemIdx), i * dim); ex.push(h.itemIdx.length, ...h.itemIdx);
}
writeFileSync('/tmp/ivf/q.f32', qs); writeFileSync('/tmp/ivf/ex.i32', Int32Array.from(ex));
console.log(dim, biases!.length);
