/**
 * The load generator of `npm run bench -- serve`: an open-loop client in its own process.
 * Requests are sent at fixed times (rate per second) whatever the server's pace, over
 * keep-alive connections (raw sockets, see RawClient; LOAD_CLIENT=http: node:http's client), so
 * queueing behind a slow server counts (no coordinated omission: a request is never held back
 * waiting for an earlier answer; one waiting for a free connection counts from its send time).
 *
 * A request's latency runs from the moment it is sent to the end of its response. Node's timers
 * fire at a 1 ms grain, so a request goes out up to ~1 ms after its scheduled time: that lag is
 * the client's, not the server's, and is reported on its own (`lags`); `fromSchedule` keeps the
 * latency counted from the scheduled time as well.
 *   → { type: 'run', port, rate, seconds, users, k, connections, seed, path? }
 *   ← { type: 'result', sent, ok, errors, late, wallSeconds, latencies, fromSchedule, lags (ms, sorted), clientCpuMs (per request) }
 * LOAD_PATH=/health (development aid): every request asks that path instead, to measure what
 * the HTTP stack alone costs the server (2026-11-29 night: 0.13-0.15 ms CPU per request at
 * 600/s, against ~0.9 for a recommendation on that machine at that moment).
 */
import http from 'node:http';
import net from 'node:net';

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
  /** 'raw' (default) or 'http' (node:http's client); LOAD_CLIENT in the environment otherwise. */
  client?: 'raw' | 'http';
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

/**
 * The default client: keep-alive sockets written and read directly, one request in flight per
 * socket (a request waits for a free socket from the moment it is sent, as with an agent), a
 * response taken as complete at its Content-Length. node:http's client (LOAD_CLIENT=http) costs
 * the load process several times more CPU per request (request and response objects, the
 * parser, streams), which on this project's 2-core machines is taken from the server's
 * second core and delays the client's own reading of the responses.
 */
class RawClient {
  private readonly idle: Conn[] = [];
  private readonly waiting: { path: string; sentAt: number; scheduled: number }[] = [];
  private readonly conns: Conn[] = [];
  constructor(
    readonly port: number,
    connections: number,
    readonly done: (status: number, bytes: number, sentAt: number, scheduled: number) => void,
    readonly failed: (err: Error) => void,
  ) {
    for (let i = 0; i < connections; i++) {
      const c = new Conn(this);
      this.conns.push(c);
      this.idle.push(c);
    }
  }
  request(path: string, sentAt: number, scheduled: number): void {
    const c = this.idle.pop();
    if (c) c.send(path, sentAt, scheduled);
    else this.waiting.push({ path, sentAt, scheduled });
  }
  free(c: Conn): void {
    const w = this.waiting.shift();
    if (w) c.send(w.path, w.sentAt, w.scheduled);
    else this.idle.push(c);
  }
  close(): void {
    for (const c of this.conns) c.socket.destroy();
  }
}

class Conn {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private sentAt = 0;
  private scheduled = 0;
  private busy = false;
  constructor(private readonly client: RawClient) {
    this.socket = net.connect({ port: client.port, host: '127.0.0.1', noDelay: true });
    this.socket.on('data', (d: Buffer) => this.read(d));
    const lost = (err: Error) => {
      if (!this.busy) return;
      this.busy = false;
      client.failed(err);
    };
    this.socket.on('error', lost);
    this.socket.on('close', () => lost(new Error('connection closed by the server')));
  }
  send(path: string, sentAt: number, scheduled: number): void {
    this.busy = true;
    this.sentAt = sentAt;
    this.scheduled = scheduled;
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  }
  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const head = this.buf.indexOf('\r\n\r\n');
    if (head < 0) return;
    const header = this.buf.toString('latin1', 0, head);
    const len = /\r\ncontent-length: *(\d+)/i.exec(header);
    if (!len) {
      this.busy = false;
      this.client.failed(new Error('response without content-length'));
      this.socket.destroy();
      return;
    }
    const total = head + 4 + Number(len[1]);
    if (this.buf.length < total) return;
    const status = Number(header.slice(9, 12));
    this.buf = this.buf.subarray(total);
    this.busy = false;
    this.client.done(status, Number(len[1]), this.sentAt, this.scheduled);
    this.client.free(this);
  }
}

async function runLoad(m: RunMsg): Promise<Record<string, unknown>> {
  s = m.seed;
  const agent = new http.Agent({ keepAlive: true, maxSockets: m.connections, maxFreeSockets: m.connections });
  const interval = 1000 / m.rate;
  const cpu0 = process.cpuUsage();
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
  const done = (status: number, bytes: number, sentAt: number, scheduled: number) => {
    pending--;
    if (status === 200 && bytes > 0) {
      ok++;
      const t = performance.now();
      lat.push(t - sentAt);
      fromSchedule.push(t - scheduled);
    } else {
      errors++;
      lastError = `HTTP ${status}`;
    }
  };
  const failed = (err: Error) => {
    pending--;
    errors++;
    lastError = err.message;
  };
  const pathOf = (user: number) => m.path ?? process.env.LOAD_PATH ?? `/users/u${user}/recommendations?k=${m.k}`;
  const raw = (m.client ?? process.env.LOAD_CLIENT) !== 'http' ? new RawClient(m.port, m.connections, done, failed) : undefined;
  const fire = (scheduled: number) => {
    sent++;
    pending++;
    const user = Math.floor(rand() * m.users);
    const sentAt = performance.now();
    lags.push(sentAt - scheduled);
    if (raw) {
      raw.request(pathOf(user), sentAt, scheduled);
      return;
    }
    const req = http.get({ agent, host: '127.0.0.1', port: m.port, path: pathOf(user) }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => done(res.statusCode ?? 0, bytes, sentAt, scheduled));
    });
    req.on('error', failed);
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
  raw?.close();
  for (const a of [lat, fromSchedule, lags]) a.sort((x, y) => x - y);
  const cpu = process.cpuUsage(cpu0);
  const clientCpuMs = (cpu.user + cpu.system) / 1000 / Math.max(1, sent);
  return { sent, ok, errors, late: pending, lastError, wallSeconds, latencies: lat, fromSchedule, lags, clientCpuMs };
}

process.on('message', (m: RunMsg) => {
  if (m.type !== 'run') return;
  void runLoad(m).then((r) => process.send!({ type: 'result', ...r }));
});
process.on('disconnect', () => process.exit(0));
