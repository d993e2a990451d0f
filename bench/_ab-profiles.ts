// temporary A/B: node --import tsx bench/_ab-profiles.ts old|new [events]
import { MINUTE_MS, HOUR_MS } from '../src/profiles/window.js';
import { seededUniform } from '../src/math/rng.js';
const impl = process.argv[2];
const nEvents = Number(process.argv[3] ?? 10_000_000);
const mod = impl === 'old' ? await import('./_old-memory.js') : await import('../src/profiles/memory.js');
const nUsers = 100_000, nItems = 1_000_000, spanHours = 24 * 7;
const rss0 = process.memoryUsage().rss;
const p = new mod.MemoryProfileStore({ maxUsers: nUsers });
const rnd = seededUniform(42);
const KB = 100_000;
for (let b = 0; b < nItems; b += KB) {
  const idx: number[] = []; const keys: string[][] = [];
  for (let i = b; i < Math.min(nItems, b + KB); i++) { idx.push(i); keys.push([`cat:${i % 1000}`, `brand:${(Math.imul(i, 2654435761) >>> 0) % 20000}`, `price:${(i >>> 3) % 10}`]); }
  p.setItemKeys(idx, keys);
}
const typeNames = new Map([[0, 'view'], [1, 'click'], [2, 'add_to_cart'], [3, 'purchase']]);
const B = 65_536;
const cols = { length: 0, userIdx: new Int32Array(B), itemIdx: new Int32Array(B), type: new Uint16Array(B), timestamp: new Float64Array(B), typeNames };
const t0 = Date.UTC(2026, 0, 1); const span = spanHours * HOUR_MS; const perItemsInCat = Math.max(1, Math.floor(nItems / 1000));
let recordMs = 0, recorded = 0;
for (let b = 0; b < nEvents; b += B) {
  const n = Math.min(B, nEvents - b);
  for (let j = 0; j < n; j++) {
    const k = b + j; const u = Math.floor(rnd() * nUsers);
    const cat = (Math.imul(u, 37) + Math.floor(rnd() * rnd() * 8)) % 1000; const r = rnd();
    const item = Math.min(nItems - 1, cat + 1000 * Math.floor(perItemsInCat * r * r * r)); const x = rnd();
    cols.userIdx[j] = u; cols.itemIdx[j] = item; cols.type[j] = x < 0.85 ? 0 : x < 0.95 ? 1 : x < 0.98 ? 2 : 3;
    cols.timestamp[j] = t0 + Math.floor((k / nEvents) * span) - Math.floor(rnd() * rnd() * 5 * MINUTE_MS);
  }
  cols.length = n;
  const t = performance.now(); recorded += p.recordBatch(cols); recordMs += performance.now() - t;
}
let t = performance.now(); p.flush(); recordMs += performance.now() - t;
const rss = process.memoryUsage().rss; const st = p.memoryStats();
// checksum of a few queries
const now = p.clock(); let chk = 0;
for (let u = 0; u < 2000; u++) chk += p.userCounts(u * 37, { type: 'view', windowMs: 7 * 86400000, now }) + p.userCounts(u * 37, { windowMs: 3600000, now, key: `cat:${u % 1000}` }) + p.itemPopularity(u * 11, { windowMs: 86400000, now }) + p.itemPopularity(u * 11, { windowMs: 3600000, now });
const top = p.topItems({ k: 100, windowMs: 86400000, now }); chk += top.counts.reduce((a: number, b: number) => a + b, 0) + top.items.reduce((a: number, b: number) => a + b, 0);
console.log(`${impl}: ${(recorded / recordMs / 1000).toFixed(3)} M ev/s record ${recordMs.toFixed(0)} ms rss+${((rss - rss0) / 2 ** 20).toFixed(0)}MB structures ${(st.bytes / 2 ** 20).toFixed(0)}MB userCells ${st.userCells} itemCells ${st.itemCells} chk ${chk}`);
