/**
 * The load generator of `npm run bench -- serve`: an open-loop client in its own process.
 * Requests are sent at fixed times (rate per second) whatever the server's pace, over node:http
 * keep-alive connections, so queueing behind a slow server counts (no coordinated omission: a
 * request is never held back waiting for an earlier answer).
 *
 * A request's latency runs from the moment it is sent to the end of its response. Node's timers
 * fire at a 1 ms grain, so a request goes out up to ~1 ms after its scheduled time: that lag is
 * the client's, not the server's, and is reported on its own (`lags`); `fromSchedule` keeps the
 * latency counted from the scheduled time as well.
 *   → { type: 'run', port, rate, seconds, users, k, connections, seed, path? }
 *   ← { type: 'result', sent, ok, errors, late, wallSeconds, latencies, fromSchedule, lags (ms, sorted) }
 * LOAD_PATH=/health (development aid): every request asks that path instead, to measure what
 * the HTTP stack alone costs the server (2026-11-29 night: 0.13-0.15 ms CPU per request at
 * 600/s, against ~0.9 for a recommendation on that machine at that moment).
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
  /** Ask this path instead of users' recommendations (the bench's HTTP floor: `/health`). */
  path?: string;
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
  const fromSchedule: number[] = [];
  const lags: number[] = [];
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
    const sentAt = performance.now();
    lags.push(sentAt - scheduled);
    const req = http.get({ agent, host: '127.0.0.1', port: m.port, path: m.path ?? process.env.LOAD_PATH ?? `/users/u${user}/recommendations?k=${m.k}` }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        pending--;
        if (res.statusCode === 200 && bytes > 0) {
          ok++;
          const t = performance.now();
          lat.push(t - sentAt);
          fromSchedule.push(t - scheduled);
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
  for (const a of [lat, fromSchedule, lags]) a.sort((x, y) => x - y);
  return { sent, ok, errors, late: pending, lastError, wallSeconds, latencies: lat, fromSchedule, lags };
}

process.on('message', (m: RunMsg) => {
  if (m.type !== 'run') return;
  void runLoad(m).then((r) => process.send!({ type: 'result', ...r }));
});
process.on('disconnect', () => process.exit(0));
