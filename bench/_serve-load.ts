/**
 * The load generator of `npm run bench -- serve`: an open-loop client in its own process.
 * Requests are sent at fixed times (rate per second) whatever the server's pace, over node:http
 * keep-alive connections; a request's latency runs from its scheduled time to the end of its
 * response, so queueing behind a slow server counts (no coordinated omission).
 *   → { type: 'run', port, rate, seconds, users, k, connections, seed }
 *   ← { type: 'result', sent, ok, errors, late, wallSeconds, latencies (ms, sorted sample) }
 */
import http from 'node:http';

interface RunMsg {
  type: 'run';
  port: number;
  rate: number;
  seconds: number;
  users: number;
  k: number;
  connections: number;
  seed: number;
}

if (!process.send) {
  console.error('run as a child process with IPC');
  process.exit(2);
}

let s = 1;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = Math.imul(s ^ (s >>> 15), s | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

async function runLoad(m: RunMsg): Promise<Record<string, unknown>> {
  s = m.seed;
  const agent = new http.Agent({ keepAlive: true, maxSockets: m.connections, maxFreeSockets: m.connections });
  const interval = 1000 / m.rate;
  const start = performance.now();
  const end = start + m.seconds * 1000;
  const lat: number[] = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  let pending = 0;
  let lastError = '';
  let next = start;
  const fire = (scheduled: number) => {
    sent++;
    pending++;
    const user = Math.floor(rand() * m.users);
    const req = http.get({ agent, host: '127.0.0.1', port: m.port, path: `/users/u${user}/recommendations?k=${m.k}` }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        pending--;
        if (res.statusCode === 200 && bytes > 0) {
          ok++;
          lat.push(performance.now() - scheduled);
        } else {
          errors++;
          lastError = `HTTP ${res.statusCode}`;
        }
      });
    });
    req.on('error', (err) => {
      pending--;
      errors++;
      lastError = err.message;
    });
  };
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next <= now && next < end) {
        fire(next);
        next += interval;
      }
      if (next < end) setTimeout(tick, Math.max(0, Math.min(1, next - performance.now())));
      else resolve();
    };
    tick();
  });
  // Let the requests in flight finish (up to 10 s).
  const drainUntil = performance.now() + 10_000;
  while (pending > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
  const wallSeconds = (performance.now() - start) / 1000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  return { sent, ok, errors, late: pending, lastError, wallSeconds, latencies: lat };
}

process.on('message', (m: RunMsg) => {
  if (m.type !== 'run') return;
  void runLoad(m).then((r) => process.send!({ type: 'result', ...r }));
});
process.on('disconnect', () => process.exit(0));
