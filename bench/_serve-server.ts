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
 */
import { buildApp } from '../src/server/app.js';
import { defaultConfig } from '../src/server/config.js';
import { artifactHolders, recommendationRoutes } from '../src/serving/routes.js';
import { servingProfile } from '../src/serving/profile.js';

const [db, models] = process.argv.slice(2);
if (!db || !models || !process.send) {
  console.error('usage (as a child process with IPC): _serve-server.ts DB MODELS');
  process.exit(2);
}
const send = (m: unknown) => process.send!(m);
const t0 = performance.now();
const config = defaultConfig({ db, models, server: { logLevel: 'warn' } });
const app = await buildApp({ config, models: artifactHolders, plugins: [recommendationRoutes], logger: false, processMetrics: false });
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
servingProfile.reset();
send({ type: 'ready', port, startSeconds: (performance.now() - t0) / 1000, rss: process.memoryUsage().rss });

process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') {
    const mem = process.memoryUsage();
    send({ type: 'stats', cpu: process.cpuUsage(), rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, profile: servingProfile.snapshot() });
  } else if (m.type === 'reset') {
    servingProfile.reset();
    send({ type: 'reset' });
  } else if (m.type === 'stop') {
    void app.close().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => void app.close().finally(() => process.exit(0)));
