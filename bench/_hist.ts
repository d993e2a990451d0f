import { SqliteStore } from '../src/store/sqlite.js';
const db = 'bench/.data/serve/i1000000-d64/u100000-h20/funnel.db';
const s = await SqliteStore.open(db, { readonly: true });
const raw = (s as any).db;
let seed = 3; const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
const ids: string[] = []; for (let i = 0; i < 20000; i++) ids.push(raw.prepare('SELECT id FROM users WHERE idx = ?').pluck().get(Math.floor(rnd() * 100000)));
async function run(label: string) {
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (const id of ids) await s.history(id, { types: ['view', 'click', 'add_to_cart', 'purchase'], limit: 50 });
    console.log(label, ((performance.now() - t) / ids.length * 1000).toFixed(1), 'µs');
  }
}
await run('default');
raw.pragma('mmap_size = 2000000000');
await run('mmap');
raw.pragma('cache_size = -1000000');
await run('mmap+1GB cache');
