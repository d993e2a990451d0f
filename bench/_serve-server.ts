/**
 * The server process of `npm run bench -- serve`: the real `funnel serve` stack (buildApp with
 * the artifact holders and recommendation routes, one process) on a store and a model folder,
 * listening on loopback. Driven by its parent over IPC:
 *   → { type: 'stats' }   ← { type: 'stats', cpu, rss, heapUsed, profile }   (profile since reset)
 *   → { type: 'reset' }   ← { type: 'reset' }
 *   → { type: 'stop' }    (closes the app and exits)
 * On start it sends { type: 'ready', port, startSeconds, rss } after a first request has built
 * the service (catalog snapshot, funnels).
 *
 *   node --import tsx bench/_serve-server.ts DB MODELS
 *
 * FUNNEL_CPU_PROFILE=FILE / FUNNEL_HEAP_PROFILE=FILE: V8 CPU / sampling heap profiles of the
 * serving period, written when the bench stops the server. FUNNEL_TRACE_MEM=1: memory and
 * garbage collections every second, on stderr.
 */
import { buildApp } from '../src/server/app.js';
import { defaultConfig } from '../src/server/config.js';
import { artifactHolders, recommendationRoutes } from '../src/serving/routes.js';
import { servingProfile } from '../src/serving/profile.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { prepareServingProcess } from '../src/server/serving-process.js';
import { hugePageCopies } from '../src/math/kernels/native.js';

const [db, models] = process.argv.slice(2);
if (!db || !models || !process.send) {
  console.error('usage (as a child process with IPC): _serve-server.ts DB MODELS');
  process.exit(2);
}
const send = (m: unknown) => process.send!(m);
prepareServingProcess(); // as funnel serve does
const t0 = performance.now();
const config = defaultConfig({ db, models, server: { logLevel: 'warn' } });
// FUNNEL_IMPRESSIONS=0: serve without impression logging (to measure what it costs).
const service = process.env.FUNNEL_IMPRESSIONS === '0' ? { logImpressions: false } : {};
const app = await buildApp({ config, models: artifactHolders, plugins: [{ plugin: recommendationRoutes, options: { service } }], logger: false, processMetrics: false });
await app.listen({ port: 0, host: '127.0.0.1' });
const addr = app.server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;
// The first request builds the service (catalog snapshot of the store, funnels per scene).
const first = await app.inject({ method: 'GET', url: '/users/u0/recommendations?k=20' });
if (first.statusCode !== 200) {
  console.error(`first request failed: ${first.statusCode} ${first.body}`);
  process.exit(1);
}
servingProfile.enable(process.env.FUNNEL_PROFILE === '1');
// FUNNEL_CPU_PROFILE=FILE: a V8 CPU profile of the serving period (after start-up), written at stop.
const cpuProfile = process.env.FUNNEL_CPU_PROFILE;
let session: import('node:inspector').Session | undefined;
if (cpuProfile) {
  const { Session } = await import('node:inspector');
  session = new Session();
  session.connect();
  await new Promise<void>((r) => session!.post('Profiler.enable', () => session!.post('Profiler.start', () => r())));
}
// FUNNEL_HEAP_PROFILE=FILE: a V8 sampling heap profile (allocations, 32 KiB interval) of the serving period.
const heapProfile = process.env.FUNNEL_HEAP_PROFILE;
if (heapProfile) {
  const { Session } = await import('node:inspector');
  session ??= new Session();
  try {
    session.connect();
  } catch {
    /* already connected for the CPU profile */
  }
  // Keep the samples of objects already collected: they show where the garbage comes from.
  await new Promise<void>((r) => session!.post('HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never, () => r()));
}
async function stopProfile(): Promise<void> {
  if (session && heapProfile) {
    const { writeFileSync } = await import('node:fs');
    await new Promise<void>((r) => session!.post('HeapProfiler.getSamplingProfile', (err, res) => { if (!err) writeFileSync(heapProfile, JSON.stringify(res.profile)); r(); }));
  }
  if (!session || !cpuProfile) return;
  const { writeFileSync } = await import('node:fs');
  await new Promise<void>((r) => session!.post('Profiler.stop', (err, res) => { if (!err) writeFileSync(cpuProfile, JSON.stringify(res.profile)); r(); }));
}
servingProfile.reset();
// FUNNEL_TRACE_MEM=1: every second, memory and the garbage collections since (to stderr).
if (process.env.FUNNEL_TRACE_MEM === '1') {
  const { PerformanceObserver } = await import('node:perf_hooks');
  const gcs: string[] = [];
  const kinds: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weak' };
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) gcs.push(`${kinds[((e as unknown as { detail: { kind: number } }).detail).kind] ?? '?'} ${e.duration.toFixed(1)}ms`);
  }).observe({ entryTypes: ['gc'] });
  const t = setInterval(() => {
    const m = process.memoryUsage();
    const big = gcs.filter((g) => !g.startsWith('minor'));
    console.error(`mem: rss ${(m.rss / 1e6).toFixed(0)} heap ${(m.heapUsed / 1e6).toFixed(0)}/${(m.heapTotal / 1e6).toFixed(0)} external ${(m.external / 1e6).toFixed(0)} MB; gc ${gcs.length} (${big.join(', ')})`);
    gcs.length = 0;
  }, 1000);
  t.unref();
}
// Event-loop delay (how long a ready callback waited): stalls show here as the latency tail.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
(globalThis as { gc?: () => void }).gc?.(); // the ready RSS is live memory, as the after-load one
send({ type: 'ready', port, startSeconds: (performance.now() - t0) / 1000, rss: process.memoryUsage().rss, hugePages: hugePageCopies() });

process.on('message', (m: { type: string; gc?: boolean }) => {
  if (m.type === 'stats') {
    // Asked for live memory: collect first (the bench starts this process with --expose-gc).
    if (m.gc) (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    const ms = (q: number) => +(loop.percentile(q) / 1e6).toFixed(2);
    send({ type: 'stats', cpu: process.cpuUsage(), rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, profile: servingProfile.snapshot(), loopDelay: { p50: ms(50), p99: ms(99), max: +(loop.max / 1e6).toFixed(2) } });
  } else if (m.type === 'reset') {
    servingProfile.reset();
    loop.reset();
    send({ type: 'reset' });
  } else if (m.type === 'stop') {
    void stopProfile().then(() => app.close()).finally(() => process.exit(0));
  }
});
process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
