/**
 * How long loading the serve bench's artifact blocks the event loop (development aid): a 5 ms
 * ticker records every gap over 50 ms while `loadArtifact` runs, as a server reloading its
 * models would stall its requests for. HUGE=1 reads the large arrays onto huge pages, as a
 * single serving process does (src/server/serving-process.ts).
 *
 *   HUGE=1 node --import tsx bench/_load-block.ts
 */
import { join } from 'node:path';
import { serveModelsDir } from './serve.js';
import { latestArtifact } from '../src/artifacts/registry.js';
import { loadArtifact } from '../src/serving/artifact.js';
import { setHugePageCopies, setPopulateMappings } from '../src/math/kernels/native.js';
setPopulateMappings(true); setHugePageCopies(process.env.HUGE === '1');
const root = join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
let last = performance.now(); let worst = 0; const gaps: number[] = [];
const t = setInterval(() => { const now = performance.now(); const g = now - last; if (g > 50) gaps.push(Math.round(g)); worst = Math.max(worst, g); last = now; }, 5);
const t0 = performance.now();
const art = await loadArtifact(latestArtifact(serveModelsDir(root))!);
console.log(`HUGE=${process.env.HUGE} loaded in ${((performance.now() - t0) / 1000).toFixed(2)} s; longest loop block ${worst.toFixed(0)} ms; blocks > 50 ms: ${gaps.join(' ')}`, !!art);
clearInterval(t); process.exit(0);
