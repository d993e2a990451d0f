/**
 * Side-by-side comparison of server variants under the same open-loop load (development aid
 * for `npm run bench -- serve`): each variant is a checkout root (its bench/_serve-server.ts is
 * started) plus environment; variants alternate, `--rounds` times, and each round reports the
 * server CPU milliseconds per request (process.cpuUsage, all threads), p50/p99 and RSS.
 *
 *   node --import tsx bench/_serve-ab.ts --variant name=ROOT[,ENV=V...] ... [--rate R] [--seconds S] [--rounds N]
 *
 * A variant's DATA=DIR serves that copy of the data directory (funnel.db and the models)
 * instead of --data's: a checkout that refuses a store of another schema version gets its own.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { serveModelsDir } from './serve.js';

const { values } = parseArgs({ options: { variant: { type: 'string', multiple: true }, rate: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, users: { type: 'string' }, data: { type: 'string' } } });
const data = values.data ?? join(import.meta.dirname, '.data', 'serve', 'i1000000-d64', 'u100000-h20');
const db = join(data, 'funnel.db');
const models = serveModelsDir(data);
const rate = Number(values.rate ?? 300);
const seconds = Number(values.seconds ?? 10);
const rounds = Number(values.rounds ?? 2);
const users = Number(values.users ?? 100000);
const variants = (values.variant ?? []).map((v) => {
  const [name, rest] = v.split('=', 2).length === 2 ? [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] : [v, v];
  const [root, ...envs] = rest.split(',');
  return { name, root, env: Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) };
});

function ask<T>(p: ChildProcess, msg: unknown, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    p.setMaxListeners(100);
    const on = (m: { type: string }) => { if (m.type === type) { p.off('message', on); resolve(m as T); } };
    p.on('message', on);
    p.once('exit', (c) => reject(new Error(`exit ${c}`)));
    if (msg !== undefined) p.send(msg as never);
  });
}
const q = (a: number[], f: number) => a[Math.min(a.length - 1, Math.floor(f * a.length))];
const load = fork(join(import.meta.dirname, '_serve-load.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const acc = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const v of variants) {
    const script = v.root.endsWith('.ts') ? v.root : join(v.root, 'bench', '_serve-server.ts');
    // DATA=dir: this variant's own copy of the data (e.g. a store another schema version needs)
    const vdata = v.env.DATA;
    const server = fork(script, vdata ? [join(vdata, 'funnel.db'), serveModelsDir(vdata)] : [db, models], { cwd: v.root.endsWith('.ts') ? process.cwd() : v.root, execArgv: ['--import', 'tsx', ...(v.env.EXECARGV ? v.env.EXECARGV.split(' ') : [])], env: { ...process.env, ...v.env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await ask<{ port: number; startSeconds: number }>(server, undefined, 'ready');
    await ask(load, { type: 'run', port: ready.port, rate: 200, seconds: 3, users, k: 20, connections: 64, seed: 99 + r, ...(v.env.LOAD_CLIENT ? { client: v.env.LOAD_CLIENT } : {}) }, 'result');
    const a = await ask<{ cpu: NodeJS.CpuUsage; rss: number; profile: Record<string, { mean_ms: number }> }>(server, { type: 'stats' }, 'stats');
    server.send({ type: 'reset' });
    const res = await ask<{ ok: number; errors: number; latencies: number[]; clientCpuMs?: number }>(load, { type: 'run', port: ready.port, rate, seconds, users, k: 20, connections: 64, seed: 4242 + r, ...(v.env.LOAD_CLIENT ? { client: v.env.LOAD_CLIENT } : {}) }, 'result');
    const b = await ask<{ cpu: NodeJS.CpuUsage; rss: number; heapUsed: number; external: number; profile: Record<string, { mean_ms: number }>; loopDelay?: { p50: number; p99: number; max: number } }>(server, { type: 'stats' }, 'stats');
    const cpuMs = (b.cpu.user - a.cpu.user + b.cpu.system - a.cpu.system) / 1000 / Math.max(1, res.ok);
    (acc.get(v.name) ?? acc.set(v.name, []).get(v.name)!).push(cpuMs);
    const prof = Object.entries(b.profile).map(([k, x]) => `${k} ${x.mean_ms.toFixed(3)}`).join(', ');
    console.log(`${v.name.padEnd(10)} round ${r}: ${cpuMs.toFixed(3)} ms CPU/request (${Math.round(1000 / cpuMs)}/CPU s), ok ${res.ok} err ${res.errors}, p50 ${q(res.latencies, 0.5).toFixed(2)} p99 ${q(res.latencies, 0.99).toFixed(2)} p99.9 ${q(res.latencies, 0.999).toFixed(2)} ms, RSS ${(b.rss / 1e6).toFixed(0)} MB (heap ${(b.heapUsed / 1e6).toFixed(0)}, external ${(b.external / 1e6).toFixed(0)})${b.loopDelay ? `, loop delay p99 ${b.loopDelay.p99} max ${b.loopDelay.max} ms` : ''}${res.clientCpuMs !== undefined ? `, client ${res.clientCpuMs.toFixed(3)} ms CPU/request` : ''}${prof ? `; ${prof}` : ''}`);
    server.send({ type: 'stop' });
    await new Promise((res2) => server.once('exit', res2));
  }
}
for (const [n, xs] of acc) console.log(`${n.padEnd(10)} mean ${(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3)} ms CPU/request`);
load.disconnect();
process.exit(0);
