/**
 * `funnel serve` as a real process on an ephemeral port: requests over real sockets, signals,
 * clean exits; once in one process and once with two workers (node:cluster).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';
import { transparentHugePages } from '../../src/math/kernels/native.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const KEY = 'serve-test-key-00000001';

interface Running {
  child: ChildProcess;
  output: () => string;
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [join(root, 'bin', 'funnel.js'), 'serve', ...args], {
    cwd: root,
    env: { ...process.env, FUNNEL_FROM_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out,
    exited,
    waitFor: (re, ms = 20_000) =>
      new Promise((resolve, reject) => {
        const m = out.match(re);
        if (m) return resolve(m);
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; output:\n${out}`)), ms);
        waiters.push({
          re,
          resolve: (x) => {
            clearTimeout(timer);
            resolve(x);
          },
        });
        void exited.then(() => setTimeout(() => reject(new Error(`process exited before ${re}; output:\n${out}`)), 50));
      }),
  };
}

const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

describe('funnel serve (real process)', () => {
  const tmp = tempDir('funnel-serve-');
  const running: Running[] = [];
  after(() => {
    for (const r of running) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    tmp.cleanup();
  });

  it('serves over a socket, flips readiness to 503 on SIGTERM, drains and exits 0', async () => {
    const cfg = join(tmp.dir, 'funnel.config.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        server: { drainDelayMs: 600, logLevel: 'warn' },
        apps: { shop: { db: 'shop.db', keys: [{ key: KEY, scopes: ['ingest', 'read'] }] } },
      }),
    );
    const r = start(['--config', cfg, '--port', '0', '--host', '127.0.0.1']);
    running.push(r);
    const [, base] = await r.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    assert.match(r.output(), /apps: shop/);
    // A process serving alone reads its artifacts onto huge pages where the kernel has them.
    assert.match(r.output(), transparentHugePages() && process.env.FUNNEL_HUGE_PAGES !== '0' ? /; artifacts on huge pages;/ : /; artifacts mapped;/);

    let res = await fetch(`${base}/events`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify([
        { userId: 'u1', itemId: 'i1', type: 'view', timestamp: 1000 },
        { userId: 'u1', itemId: 'i2', type: 'purchase', timestamp: 2000, value: 12 },
        { userId: 'u1', itemId: 'i3', type: 'click' },
      ]),
    });
    assert.equal(res.status, 200);
    const batch = (await res.json()) as { accepted: number; rejected: number };
    assert.equal(batch.accepted, 2);
    assert.equal(batch.rejected, 1);
    res = await fetch(`${base}/users/u1/timeline`, { headers: auth });
    const tl = (await res.json()) as { events: { itemId: string; type: string }[] };
    assert.deepEqual(tl.events.map((e) => `${e.type}:${e.itemId}`), ['purchase:i2', 'view:i1']);
    assert.equal((await fetch(`${base}/users/u1`)).status, 401);
    assert.equal((await fetch(`${base}/health/ready`)).status, 200);

    r.child.kill('SIGTERM');
    await r.waitFor(/SIGTERM: draining/);
    res = await fetch(`${base}/health/ready`);
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'SHUTTING_DOWN');
    const { code } = await r.exited;
    assert.equal(code, 0, r.output());
    assert.match(r.output(), /funnel: stopped/);
  });

  it('--workers 2: both workers serve one port and one store, SIGHUP reaches them, SIGTERM stops all', async () => {
    const db = join(tmp.dir, 'cluster.db');
    const r = start(['--db', db, '--port', '0', '--workers', '2', '--api-key', `${KEY}:admin`, '--log-level', 'warn']);
    running.push(r);
    const [, base] = await r.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 25_000);
    assert.match(r.output(), /2 processes/);
    assert.match(r.output(), process.env.FUNNEL_HUGE_PAGES === '1' && transparentHugePages() ? /; artifacts on huge pages;/ : /; artifacts mapped;/);
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${base}/events`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify([{ userId: 'w', itemId: `i${i}`, type: 'view', timestamp: 1000 + i }]),
      });
      assert.equal(res.status, 200);
    }
    const tl = (await (await fetch(`${base}/users/w/timeline`, { headers: auth })).json()) as { count: number };
    assert.equal(tl.count, 6);
    const metrics = await (await fetch(`${base}/metrics`, { headers: auth })).text();
    assert.match(metrics, /funnel_ingested_entities_total\{app="default",kind="events",outcome="accepted"\} 6/);

    r.child.kill('SIGHUP');
    await r.waitFor(/(worker \d+: models default=none[\s\S]*){2}/);
    r.child.kill('SIGTERM');
    const { code } = await r.exited;
    assert.equal(code, 0, r.output());
    assert.match(r.output(), /stopping 2 workers[\s\S]*funnel: stopped/);
  });
});
