/**
 * The Node floor of `npm run bench -- serve`: a bare node:http server (no Fastify, no Funnel)
 * answering every request with a small JSON body, driven over IPC like bench/_serve-server.ts
 * (ready / stats / reset / stop). The same load on it as on Funnel's `GET /health` separates
 * what the machine and Node cost from what Funnel's HTTP stack adds: on a machine whose vCPUs
 * stall, even this server misses a millisecond-level p99.
 *
 *   node --import tsx bench/_bare-server.ts   (as a child process with IPC)
 */
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

if (!process.send) {
  console.error('run as a child process with IPC');
  process.exit(2);
}
const send = (m: unknown) => process.send!(m);
const body = JSON.stringify({ status: 'ok' });
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) };
const server = http.createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 72_000;
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  send({ type: 'ready', port: typeof addr === 'object' && addr ? addr.port : 0, startSeconds: 0, rss: process.memoryUsage().rss, hugePages: false });
});
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') {
    const mem = process.memoryUsage();
    const ms = (q: number) => +(loop.percentile(q) / 1e6).toFixed(2);
    send({ type: 'stats', cpu: process.cpuUsage(), rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, profile: {}, loopDelay: { p50: ms(50), p99: ms(99), max: +(loop.max / 1e6).toFixed(2) } });
  } else if (m.type === 'reset') {
    loop.reset();
    send({ type: 'reset' });
  } else if (m.type === 'stop') {
    server.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
