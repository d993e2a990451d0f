/**
 * `funnel serve`: the HTTP API (src/server/app.ts) on a port, in one process or in N worker
 * processes (node:cluster) sharing the port.
 *
 * Signals: SIGTERM / SIGINT stop gracefully (readiness flips to 503, in-flight requests finish,
 * stores close; a second signal forces the exit). SIGHUP reloads every app's model; with
 * workers, the primary forwards it to each worker. The primary restarts a crashed worker (with
 * a growing delay; it gives up after 5 crashes within 60 s).
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AggregatorRegistry } from 'prom-client';
import type { CliCommand } from '../main.js';
import { intOption } from '../args.js';
import { buildApp, type FunnelPlugin } from '../../server/app.js';
import { prepareServingProcess, servingHugePages } from '../../server/serving-process.js';
import {
  authEnabled,
  defaultConfig,
  loadConfigFile,
  parseApiKeyFlag,
  parseSize,
  type KeyConfig,
  type ServerConfig,
  type ServerSettings,
} from '../../server/config.js';
import { FunnelMetrics } from '../../server/metrics.js';
import { closeTenants, openTenants } from '../../server/tenants.js';
import type { ModelHolderFactory } from '../../server/types.js';
import { artifactHolders, recommendationRoutes } from '../../serving/routes.js';

/**
 * What `funnel serve` adds to the built-in routes: the model holder of each app and route
 * plugins (the recommendation routes). Filled in by the modules that provide them.
 */
export interface ServeExtensions {
  models?: ModelHolderFactory;
  plugins?: FunnelPlugin[];
}
export const serveExtensions: ServeExtensions = { models: artifactHolders, plugins: [recommendationRoutes] };

const WORKER_ENV = 'FUNNEL_SERVE_WORKER';
const BIN = fileURLToPath(new URL('../../../bin/funnel.js', import.meta.url));

type Msg =
  | { type: 'funnel:config?' }
  | { type: 'funnel:config'; config: ServerConfig }
  | { type: 'funnel:listening'; url: string }
  | { type: 'funnel:metrics?'; id: number }
  | { type: 'funnel:metrics'; id: number; text?: string; error?: string }
  | { type: 'funnel:shutdown' }
  | { type: 'funnel:reload' };

const say = (line: string) => console.log(`funnel: ${line}`);

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The configuration from the flags (and the --config file). */
export function serveConfig(args: string[]): ServerConfig {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      db: { type: 'string' },
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      workers: { type: 'string', short: 'w' },
      'api-key': { type: 'string', multiple: true },
      models: { type: 'string' },
      'rate-limit': { type: 'string' },
      'body-limit': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  let config: ServerConfig;
  if (values.config !== undefined) {
    const clash = (['db', 'api-key', 'models'] as const).filter((k) => values[k] !== undefined);
    if (clash.length) throw new Error(`${clash.map((k) => `--${k}`).join(', ')} cannot be combined with --config: list apps and keys in the file`);
    config = loadConfigFile(values.config);
  } else {
    const keys: KeyConfig[] = (values['api-key'] ?? []).map(parseApiKeyFlag);
    config = defaultConfig({ db: values.db, models: values.models, keys });
  }
  const s: ServerSettings = { ...config.server };
  if (values.port !== undefined) {
    const p = intOption(values.port, 'port', 0);
    if (p < 0 || p > 65535) throw new Error(`--port expects 0..65535, got ${values.port}`);
    s.port = p;
  }
  if (values.host !== undefined) s.host = values.host;
  if (values.workers !== undefined) {
    const w = values.workers === 'auto' ? availableParallelism() : intOption(values.workers, 'workers', 1);
    if (w < 1 || w > 256) throw new Error(`--workers expects 1..256 or 'auto', got ${values.workers}`);
    s.workers = w;
  }
  if (values['rate-limit'] !== undefined) {
    const m = /^(\d+(?:\.\d+)?)(?::(\d+))?$/.exec(values['rate-limit']);
    if (!m || !(Number(m[1]) > 0)) throw new Error(`--rate-limit expects RPS[:BURST], e.g. 100:200, got '${values['rate-limit']}'`);
    s.rateLimit = { rps: Number(m[1]), burst: m[2] ? Math.max(1, Number(m[2])) : Math.max(1, Math.ceil(Number(m[1]))) };
  }
  if (values['body-limit'] !== undefined) {
    const n = parseSize(values['body-limit']);
    if (n === undefined) throw new Error(`--body-limit expects a size like 10mb or a number of bytes, got '${values['body-limit']}'`);
    s.bodyLimit = n;
  }
  if (values['log-level'] !== undefined) {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
    if (!levels.includes(values['log-level'])) throw new Error(`--log-level expects one of ${levels.join(', ')}`);
    s.logLevel = values['log-level'] as ServerSettings['logLevel'];
  }
  if (s.workers > 1) {
    const mem = Object.values(config.apps).filter((a) => a.db === ':memory:').map((a) => a.name);
    if (mem.length) throw new Error(`app ${mem.join(', ')}: an in-memory store cannot be shared by --workers ${s.workers}; use a file`);
  }
  return { ...config, server: s };
}

function describe(config: ServerConfig, url: string, workers: number): string {
  const apps = Object.values(config.apps).map((a) => `${a.name} (${a.db})`).join(', ');
  const auth = authEnabled(config) ? 'API keys required' : 'authentication off';
  const memory = servingHugePages(workers > 1) ? 'artifacts on huge pages' : 'artifacts mapped';
  return `listening on ${url} — apps: ${apps}; ${auth}; ${workers} process${workers > 1 ? 'es' : ''}; ${memory}; pid ${process.pid}`;
}

function warnOpen(config: ServerConfig): void {
  if (!authEnabled(config) && !isLoopback(config.server.host)) {
    say(`warning: no API key is configured and the server listens on ${config.server.host}: anyone who reaches it can read and write data (use --api-key or a config file with keys)`);
  }
}

/**
 * Waits for SIGTERM/SIGINT; runs `stop` once. A second SIGINT (Ctrl-C twice) exits at once; a
 * repeated SIGTERM is ignored (supervisors such as `timeout` deliver it to the process twice).
 */
function onStopSignals(stop: (signal: string) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      if (signal !== 'SIGINT') return;
      say(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

// ---- one process ---------------------------------------------------------------------------

async function runSingle(config: ServerConfig): Promise<number> {
  const s = config.server;
  const app = await buildApp({
    config,
    models: serveExtensions.models,
    plugins: serveExtensions.plugins,
    logger: { level: s.logLevel },
  });
  try {
    await app.listen({ port: s.port, host: s.host });
  } catch (err) {
    await app.close().catch(() => undefined);
    throw new Error(`cannot listen on ${s.host}:${s.port}: ${(err as Error).message}`);
  }
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  warnOpen(config);
  say(describe(config, url, 1));

  const onHup = () => {
    say('SIGHUP: reloading models');
    app.funnel.reloadModels().then(
      (v) => say(`models: ${Object.entries(v).map(([a, ver]) => `${a}=${ver ?? 'none'}`).join(', ')}`),
      (err: Error) => say(`model reload failed: ${err.message}`),
    );
  };
  process.on('SIGHUP', onHup);
  const code = await new Promise<number>((resolve) => {
    const off = onStopSignals((signal) => {
      say(`${signal}: draining in-flight requests, then stopping`);
      const force = setTimeout(() => {
        say(`shutdown still waiting after ${s.shutdownTimeoutMs} ms: exiting`);
        process.exit(1);
      }, s.shutdownTimeoutMs);
      force.unref();
      app.funnel.shutdown().then(
        () => {
          clearTimeout(force);
          off();
          resolve(0);
        },
        (err: Error) => {
          say(`shutdown failed: ${err.message}`);
          off();
          resolve(1);
        },
      );
    });
  });
  process.off('SIGHUP', onHup);
  say('stopped');
  return code;
}

// ---- cluster: worker -----------------------------------------------------------------------

async function runWorker(): Promise<number> {
  try {
    return await workerMain();
  } catch (err) {
    // The IPC channel would keep a failed worker alive: exit, the primary decides what next.
    say(`worker ${process.pid}: ${(err as Error).message}`);
    process.exit(1);
  }
}

async function workerMain(): Promise<number> {
  const send = (m: Msg) => process.send?.(m);
  const config = await new Promise<ServerConfig>((resolve) => {
    const onMsg = (m: Msg) => {
      if (m?.type === 'funnel:config') {
        process.off('message', onMsg);
        resolve(m.config);
      }
    };
    process.on('message', onMsg);
    send({ type: 'funnel:config?' });
  });
  const s = config.server;
  // /metrics answers the aggregate over workers, computed by the primary.
  const metrics = new FunnelMetrics();
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry(); // installs the listener answering the primary's requests
  let seq = 0;
  const pending = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  const metricsText = () =>
    new Promise<string>((resolve, reject) => {
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the primary process did not answer the metrics request'));
      }, 5000);
      pending.set(id, { resolve, reject, timer });
      send({ type: 'funnel:metrics?', id });
    });

  const app = await buildApp({ config, models: serveExtensions.models, plugins: serveExtensions.plugins, metrics, metricsText, logger: { level: s.logLevel } });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= app.funnel.shutdown().then(
      () => process.exit(0),
      (err: Error) => {
        say(`worker ${process.pid}: shutdown failed: ${err.message}`);
        process.exit(1);
      },
    );
    return stopping;
  };
  process.on('message', (m: Msg) => {
    if (m?.type === 'funnel:metrics') {
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.text !== undefined) p.resolve(m.text);
      else p.reject(new Error(m.error ?? 'metrics aggregation failed'));
    } else if (m?.type === 'funnel:shutdown') void stop();
    else if (m?.type === 'funnel:reload') {
      app.funnel.reloadModels().then(
        (v) => say(`worker ${process.pid}: models ${Object.entries(v).map(([a, ver]) => `${a}=${ver ?? 'none'}`).join(', ')}`),
        (err: Error) => say(`worker ${process.pid}: model reload failed: ${err.message}`),
      );
    }
  });
  // The primary coordinates: Ctrl-C reaches the whole process group, the primary then asks each
  // worker to stop. SIGHUP arrives as a message. A SIGTERM sent to a worker alone stops it.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());

  await app.listen({ port: s.port, host: s.host });
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  send({ type: 'funnel:listening', url });
  await new Promise<never>(() => undefined); // runs until stop() exits the process
  return 0;
}

// ---- cluster: primary ----------------------------------------------------------------------

async function runPrimary(config: ServerConfig): Promise<number> {
  const s = config.server;
  // Create (or check) every store once here, so workers do not race on schema creation and a
  // broken configuration fails before any fork.
  await closeTenants(await openTenants(config));
  const aggregator = new AggregatorRegistry();
  cluster.setupPrimary({ exec: BIN, args: ['serve'] });

  let stopping = false;
  let announced = false;
  const crashes: number[] = [];
  let restartDelay = 100;
  let giveUp: ((code: number) => void) | undefined;
  const restarts = new Set<NodeJS.Timeout>();

  const fork = (): Worker => cluster.fork({ [WORKER_ENV]: '1' });
  const onMessage = (worker: Worker, m: Msg) => {
    if (m?.type === 'funnel:config?') worker.send({ type: 'funnel:config', config } satisfies Msg);
    else if (m?.type === 'funnel:listening') {
      if (!announced) {
        announced = true;
        warnOpen(config);
        say(describe(config, m.url, s.workers));
      }
    } else if (m?.type === 'funnel:metrics?') {
      aggregator.clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: 'funnel:metrics', id: m.id, text } satisfies Msg),
        (err: Error) => worker.isConnected() && worker.send({ type: 'funnel:metrics', id: m.id, error: err.message } satisfies Msg),
      );
    }
  };
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) return;
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && crashes[0] < now - 60_000) crashes.shift();
    say(`worker ${worker.process.pid} exited (${signal ?? `code ${code}`}); ${crashes.length >= 5 ? 'too many crashes: stopping' : `restarting in ${restartDelay} ms`}`);
    if (crashes.length >= 5) {
      giveUp?.(1);
      return;
    }
    const t = setTimeout(() => {
      restarts.delete(t);
      if (!stopping) fork();
    }, restartDelay);
    restarts.add(t);
    restartDelay = Math.min(restartDelay * 2, 10_000);
  };
  const onListening = () => {
    // A worker that serves for 30 s resets the restart back-off.
    setTimeout(() => {
      if (!stopping) restartDelay = 100;
    }, 30_000).unref();
  };
  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  cluster.on('listening', onListening);
  const onHup = () => {
    say(`SIGHUP: asking ${Object.keys(cluster.workers ?? {}).length} workers to reload models`);
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send({ type: 'funnel:reload' } satisfies Msg);
  };
  process.on('SIGHUP', onHup);

  for (let i = 0; i < s.workers; i++) fork();

  const code = await new Promise<number>((resolve) => {
    const stopAll = (reason: string, exitCode: number) => {
      stopping = true;
      for (const t of restarts) clearTimeout(t);
      restarts.clear();
      say(`${reason}: stopping ${Object.keys(cluster.workers ?? {}).length} workers`);
      const force = setTimeout(() => {
        say(`workers still running after ${s.shutdownTimeoutMs} ms: killing them`);
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
        exitCode = 1;
      }, s.shutdownTimeoutMs);
      const check = () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) {
          clearTimeout(force);
          cluster.off('exit', check);
          off();
          resolve(exitCode);
        }
      };
      cluster.on('exit', check);
      for (const w of Object.values(cluster.workers ?? {})) {
        if (w?.isConnected()) w.send({ type: 'funnel:shutdown' } satisfies Msg);
        else w?.process.kill('SIGTERM');
      }
      check();
    };
    const off = onStopSignals((signal) => stopAll(`${signal}`, 0));
    giveUp = (c) => stopAll('giving up', c);
  });
  process.off('SIGHUP', onHup);
  cluster.off('message', onMessage);
  cluster.off('exit', onExit);
  cluster.off('listening', onListening);
  say('stopped');
  return code;
}

export const command: CliCommand = {
  name: 'serve',
  summary: 'the HTTP API: ingestion, entities, health, metrics (and recommendations)',
  usage: `usage: funnel serve [--db PATH | --config FILE] [options]

  --db PATH              store of the single app 'default' (default: $FUNNEL_DB or ./funnel.db)
  --config, -c FILE      apps, keys and server settings (JSON; see docs/api.md)
  --port, -p N           port (default 8080; 0 picks a free one, printed at start)
  --host HOST            address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --workers, -w N|auto   worker processes sharing the port (default 1: no cluster)
  --api-key KEY:SCOPES   an API key of the default app, scopes among ingest,read,admin
                         (repeatable; without any key, authentication is off)
  --models DIR           model artifacts folder of the default app
  --rate-limit RPS[:B]   per-key rate limit: RPS requests/s, bursts of B (default: none)
  --body-limit SIZE      largest request body (default 10mb)
  --log-level LEVEL      fatal, error, warn, info (default), debug, trace, silent

Signals: SIGTERM/SIGINT stop gracefully (readiness turns 503 first); SIGHUP reloads models.
V8's allocation-site pretenuring is turned off in serving processes (FUNNEL_V8_DEFAULTS=1 keeps it),
and mapped artifact files are populated at load (FUNNEL_POPULATE=0 leaves them to fault in).
A single serving process reads its large artifact arrays onto transparent huge pages instead of
mapping them (faster ANN search; workers keep sharing the mapped files; FUNNEL_HUGE_PAGES=0|1).
Endpoints and the configuration file: docs/api.md; OpenAPI document at /openapi.json.`,
  async run(args) {
    // The processes that serve requests (this one, or each worker): see src/server/serving-process.ts.
    if (cluster.isWorker && process.env[WORKER_ENV] === '1') {
      prepareServingProcess({ shared: true });
      return runWorker();
    }
    const config = serveConfig(args);
    prepareServingProcess({ shared: config.server.workers > 1 });
    return config.server.workers > 1 ? runPrimary(config) : runSingle(config);
  },
};
