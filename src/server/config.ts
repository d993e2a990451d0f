/**
 * Server configuration: the apps (tenants) one server runs, their stores, model folders and API
 * keys, and the server's own settings. Read from a JSON file (`funnel serve --config FILE`,
 * format in docs/api.md) or built from command-line flags when there is no file.
 *
 * Validation collects every problem with its JSON path, so a broken file is fixed in one go:
 *
 *   funnel.config.json: apps.shop.keys[0].scopes[1]: unknown scope 'write' (expected ingest, read, admin)
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_DB } from '../store/open.js';
import { SCOPES, type Scope } from './types.js';

export interface RateLimitConfig {
  /** Sustained requests per second. */
  rps: number;
  /** Bucket size: requests allowed at once after an idle period. */
  burst: number;
}

export interface KeyConfig {
  key: string;
  scopes: Scope[];
  /** Label used in logs (never the key itself). */
  name?: string;
  /** Overrides the server's rate limit for this key (null: unlimited). */
  rateLimit?: RateLimitConfig | null;
  /** The app the key belongs to; undefined for keys that span every app. */
  app?: string;
}

export interface AppStoreConfig {
  unknownEntities?: 'create' | 'reject';
  strictEventTypes?: boolean;
  customEventTypes?: string[];
  synchronous?: 'normal' | 'full';
  /** How often (ms) each worker looks for the events and items other workers wrote (0: never). */
  followMs?: number;
  /** MiB of the store file read through a memory map (SqliteStoreOptions.mmapMb; default 0: none). */
  mmapMb?: number;
}

export interface AppConfig {
  name: string;
  /** SQLite file (absolute). */
  db: string;
  /** Folder of the app's versioned model artifacts (absolute), when configured. */
  models?: string;
  keys: KeyConfig[];
  store: AppStoreConfig;
  /** Log one impression event per recommended item (request id, position, scene). Default true. */
  impressions?: boolean;
}

export interface ServerSettings {
  port: number;
  host: string;
  /** Worker processes (node:cluster); 1 runs the server in the main process. */
  workers: number;
  /** Largest accepted body in bytes (default 10 MB); larger → 413. */
  bodyLimit: number;
  /** Most entries in one ingestion batch (default 10000); more → 413 BATCH_TOO_LARGE. */
  maxBatch: number;
  /** Time to receive a whole request (node's requestTimeout); 0 disables. Default 30 s. */
  requestTimeoutMs: number;
  /** Longest time a handler may take before the request fails with 503 REQUEST_TIMEOUT; 0 disables. Default 30 s. */
  handlerTimeoutMs: number;
  /** Socket inactivity timeout (fastify connectionTimeout); 0 disables (default). */
  connectionTimeoutMs: number;
  /** Idle keep-alive connections close after this (default 72 s). */
  keepAliveTimeoutMs: number;
  /** Default per-key rate limit; null (default) disables it. */
  rateLimit: RateLimitConfig | null;
  /** Serve /metrics without a key (default false: admin scope needed when auth is on). */
  publicMetrics: boolean;
  /** On SIGTERM, how long readiness answers 503 before the listener closes (default 0). */
  drainDelayMs: number;
  /** After this, a shutdown still waiting for requests is forced (default 30 s). */
  shutdownTimeoutMs: number;
  /** Trust X-Forwarded-For (behind a proxy) for client addresses. */
  trustProxy: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export interface ServerConfig {
  server: ServerSettings;
  apps: Record<string, AppConfig>;
  /** Keys spanning every app (the request names its app with X-Funnel-App). */
  keys: KeyConfig[];
  /** Where the configuration came from (file path, or 'command line'). */
  source: string;
}

export const DEFAULT_SERVER: ServerSettings = {
  port: 8080,
  host: '127.0.0.1',
  workers: 1,
  bodyLimit: 10 * 1024 * 1024,
  maxBatch: 10_000,
  requestTimeoutMs: 30_000,
  handlerTimeoutMs: 30_000,
  connectionTimeoutMs: 0,
  keepAliveTimeoutMs: 72_000,
  rateLimit: null,
  publicMetrics: false,
  drainDelayMs: 0,
  shutdownTimeoutMs: 30_000,
  trustProxy: false,
  logLevel: 'info',
};

export const MIN_KEY_LENGTH = 16;
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses a size: a number of bytes, or '512kb', '10mb', '1gb'. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?\s*$/i.exec(v);
  if (!m) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const mult = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  const n = Math.floor(Number(m[1]) * mult);
  return n > 0 ? n : undefined;
}

/** Parses `KEY:scope,scope` (the --api-key flag). */
export function parseApiKeyFlag(flag: string): KeyConfig {
  const at = flag.lastIndexOf(':');
  if (at <= 0) throw new Error(`--api-key expects KEY:scope[,scope...] (scopes: ${SCOPES.join(', ')}), got '${mask(flag)}'`);
  const key = flag.slice(0, at);
  const scopes = flag.slice(at + 1).split(',').map((s) => s.trim()).filter(Boolean);
  const problems: string[] = [];
  checkKeyString(key, '--api-key', problems);
  if (scopes.length === 0) problems.push(`--api-key ${mask(key)}: no scope given (expected some of ${SCOPES.join(', ')})`);
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) problems.push(`--api-key ${mask(key)}: unknown scope '${s}' (expected ${SCOPES.join(', ')})`);
  if (problems.length) throw new Error(problems.join('; '));
  return { key, scopes: [...new Set(scopes)] as Scope[] };
}

/** A key shown in messages: its first 4 characters only. */
export function mask(key: string): string {
  return key.length <= 4 ? '****' : `${key.slice(0, 4)}…`;
}

function checkKeyString(key: string, path: string, problems: string[]): void {
  if (key.length < MIN_KEY_LENGTH) problems.push(`${path}: a key must be at least ${MIN_KEY_LENGTH} characters long (e.g. \`openssl rand -hex 24\`)`);
  else if (/\s|,/.test(key)) problems.push(`${path}: a key must not contain spaces or commas`);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownFields(obj: Record<string, unknown>, allowed: string[], path: string, problems: string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) problems.push(`${path ? `${path}.` : ''}${k}: unknown field (expected one of ${allowed.join(', ')})`);
  }
}

function readRateLimit(v: unknown, path: string, problems: string[]): RateLimitConfig | null | undefined {
  if (v === undefined) return undefined;
  if (v === null || v === false) return null;
  if (!isObj(v)) {
    problems.push(`${path}: expected {"rps": N, "burst": N} or null`);
    return undefined;
  }
  unknownFields(v, ['rps', 'burst'], path, problems);
  const rps = v.rps;
  if (typeof rps !== 'number' || !(rps > 0)) {
    problems.push(`${path}.rps: expected a number > 0 (requests per second)`);
    return undefined;
  }
  const burst = v.burst ?? Math.max(1, Math.ceil(rps));
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1) {
    problems.push(`${path}.burst: expected an integer >= 1`);
    return undefined;
  }
  return { rps, burst };
}

function readKeys(v: unknown, path: string, app: string | undefined, env: NodeJS.ProcessEnv, problems: string[]): KeyConfig[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${path}: expected an array of {"key": "...", "scopes": [...]}`);
    return [];
  }
  const out: KeyConfig[] = [];
  v.forEach((k, i) => {
    const p = `${path}[${i}]`;
    if (!isObj(k)) {
      problems.push(`${p}: expected an object {"key": "...", "scopes": [...]}`);
      return;
    }
    unknownFields(k, ['key', 'keyEnv', 'scopes', 'name', 'rateLimit'], p, problems);
    let key: string | undefined;
    if (k.key !== undefined && k.keyEnv !== undefined) problems.push(`${p}: give either key or keyEnv, not both`);
    else if (typeof k.keyEnv === 'string') {
      key = env[k.keyEnv];
      if (key === undefined || key === '') {
        problems.push(`${p}.keyEnv: the environment variable ${k.keyEnv} is not set`);
        key = undefined;
      }
    } else if (k.keyEnv !== undefined) problems.push(`${p}.keyEnv: expected the name of an environment variable`);
    else if (typeof k.key === 'string') key = k.key;
    else problems.push(`${p}.key: expected a string (or keyEnv: the name of an environment variable holding it)`);
    if (key !== undefined) checkKeyString(key, `${p}.key`, problems);
    const scopes: Scope[] = [];
    if (!Array.isArray(k.scopes) || k.scopes.length === 0) problems.push(`${p}.scopes: expected a non-empty array of ${SCOPES.join(', ')}`);
    else
      k.scopes.forEach((s, j) => {
        if (typeof s !== 'string' || !(SCOPES as readonly string[]).includes(s)) problems.push(`${p}.scopes[${j}]: unknown scope ${JSON.stringify(s)} (expected ${SCOPES.join(', ')})`);
        else if (!scopes.includes(s as Scope)) scopes.push(s as Scope);
      });
    if (k.name !== undefined && typeof k.name !== 'string') problems.push(`${p}.name: expected a string`);
    const rateLimit = readRateLimit(k.rateLimit, `${p}.rateLimit`, problems);
    if (key === undefined) return;
    const kc: KeyConfig = { key, scopes };
    if (typeof k.name === 'string') kc.name = k.name;
    if (rateLimit !== undefined) kc.rateLimit = rateLimit;
    if (app !== undefined) kc.app = app;
    out.push(kc);
  });
  return out;
}

function readServer(v: unknown, problems: string[]): ServerSettings {
  const s: ServerSettings = { ...DEFAULT_SERVER };
  if (v === undefined) return s;
  if (!isObj(v)) {
    problems.push('server: expected an object');
    return s;
  }
  unknownFields(v, Object.keys(DEFAULT_SERVER), 'server', problems);
  const int = (k: keyof ServerSettings, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const x = v[k];
    if (x === undefined) return;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) problems.push(`server.${k}: expected an integer in ${min}..${max === Number.MAX_SAFE_INTEGER ? '∞' : max}`);
    else (s as unknown as Record<string, unknown>)[k] = x;
  };
  const bool = (k: keyof ServerSettings): void => {
    const x = v[k];
    if (x === undefined) return;
    if (typeof x !== 'boolean') problems.push(`server.${k}: expected true or false`);
    else (s as unknown as Record<string, unknown>)[k] = x;
  };
  int('port', 0, 65535);
  if (v.host !== undefined) {
    if (typeof v.host !== 'string' || v.host === '') problems.push('server.host: expected a host name or address');
    else s.host = v.host;
  }
  int('workers', 1, 256);
  if (v.bodyLimit !== undefined) {
    const n = parseSize(v.bodyLimit);
    if (n === undefined) problems.push(`server.bodyLimit: expected bytes (a positive integer) or a size like "10mb", got ${JSON.stringify(v.bodyLimit)}`);
    else s.bodyLimit = n;
  }
  int('maxBatch', 1);
  int('requestTimeoutMs', 0);
  int('handlerTimeoutMs', 0);
  int('connectionTimeoutMs', 0);
  int('keepAliveTimeoutMs', 1);
  const rl = readRateLimit(v.rateLimit, 'server.rateLimit', problems);
  if (rl !== undefined) s.rateLimit = rl;
  bool('publicMetrics');
  int('drainDelayMs', 0);
  int('shutdownTimeoutMs', 1);
  bool('trustProxy');
  if (v.logLevel !== undefined) {
    if (typeof v.logLevel !== 'string' || !LOG_LEVELS.includes(v.logLevel)) problems.push(`server.logLevel: expected one of ${LOG_LEVELS.join(', ')}`);
    else s.logLevel = v.logLevel as ServerSettings['logLevel'];
  }
  return s;
}

function readStoreOptions(v: unknown, path: string, problems: string[]): AppStoreConfig {
  const out: AppStoreConfig = {};
  if (v === undefined) return out;
  if (!isObj(v)) {
    problems.push(`${path}: expected an object`);
    return out;
  }
  unknownFields(v, ['unknownEntities', 'strictEventTypes', 'customEventTypes', 'synchronous', 'followMs', 'mmapMb'], path, problems);
  if (v.unknownEntities !== undefined) {
    if (v.unknownEntities !== 'create' && v.unknownEntities !== 'reject') problems.push(`${path}.unknownEntities: expected "create" or "reject"`);
    else out.unknownEntities = v.unknownEntities;
  }
  if (v.strictEventTypes !== undefined) {
    if (typeof v.strictEventTypes !== 'boolean') problems.push(`${path}.strictEventTypes: expected true or false`);
    else out.strictEventTypes = v.strictEventTypes;
  }
  if (v.customEventTypes !== undefined) {
    if (!Array.isArray(v.customEventTypes) || v.customEventTypes.some((t) => typeof t !== 'string' || t === '')) problems.push(`${path}.customEventTypes: expected an array of non-empty strings`);
    else out.customEventTypes = v.customEventTypes as string[];
  }
  if (v.synchronous !== undefined) {
    if (v.synchronous !== 'normal' && v.synchronous !== 'full') problems.push(`${path}.synchronous: expected "normal" or "full"`);
    else out.synchronous = v.synchronous;
  }
  if (v.followMs !== undefined) {
    if (typeof v.followMs !== 'number' || !Number.isInteger(v.followMs) || v.followMs < 0 || v.followMs > 60_000) problems.push(`${path}.followMs: expected an integer number of milliseconds in [0, 60000]`);
    else out.followMs = v.followMs;
  }
  if (v.mmapMb !== undefined) {
    if (typeof v.mmapMb !== 'number' || !Number.isInteger(v.mmapMb) || v.mmapMb < 0 || v.mmapMb > 1 << 20) problems.push(`${path}.mmapMb: expected an integer number of MiB in [0, 1048576]`);
    else out.mmapMb = v.mmapMb;
  }
  return out;
}

export interface ParseConfigOptions {
  /** Relative paths (db, models) resolve against it; default the current directory. */
  baseDir?: string;
  /** Name used in error messages. */
  source?: string;
  /** Environment for `keyEnv` (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Validates a parsed JSON configuration; throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, opts: ParseConfigOptions = {}): ServerConfig {
  const source = opts.source ?? 'configuration';
  const baseDir = opts.baseDir ?? process.cwd();
  const env = opts.env ?? process.env;
  const problems: string[] = [];
  if (!isObj(raw)) throw new ConfigError(source, ['expected a JSON object with "apps" (and optionally "server" and "keys")']);
  // 'training' and 'scenes' belong to `funnel train` (src/train/config.ts): one file can hold both.
  unknownFields(raw, ['$schema', 'server', 'apps', 'keys', 'training', 'scenes'], '', problems);
  const server = readServer(raw.server, problems);
  const apps: Record<string, AppConfig> = {};
  if (!isObj(raw.apps) || Object.keys(raw.apps).length === 0) {
    problems.push('apps: expected an object with at least one app, e.g. {"shop": {"db": "shop.db"}}');
  } else {
    for (const [name, a] of Object.entries(raw.apps)) {
      const p = `apps.${name}`;
      if (!APP_NAME.test(name)) problems.push(`${p}: an app name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
      if (!isObj(a)) {
        problems.push(`${p}: expected an object {"db": "path", "models": "dir", "keys": [...]}`);
        continue;
      }
      unknownFields(a, ['db', 'models', 'keys', 'store', 'impressions'], p, problems);
      if (a.impressions !== undefined && typeof a.impressions !== 'boolean') problems.push(`${p}.impressions: expected true or false`);
      if (typeof a.db !== 'string' || a.db === '') problems.push(`${p}.db: expected the path of the app's SQLite file`);
      else if (/^postgres(ql)?:\/\//.test(a.db)) problems.push(`${p}.db: the PostgreSQL store is not available yet; use a SQLite file path`);
      if (a.models !== undefined && (typeof a.models !== 'string' || a.models === '')) problems.push(`${p}.models: expected the path of the app's model folder`);
      const app: AppConfig = {
        name,
        db: typeof a.db === 'string' ? (a.db === ':memory:' ? a.db : resolve(baseDir, a.db)) : '',
        keys: readKeys(a.keys, `${p}.keys`, name, env, problems),
        store: readStoreOptions(a.store, `${p}.store`, problems),
      };
      if (typeof a.models === 'string' && a.models !== '') app.models = resolve(baseDir, a.models);
      if (a.impressions === false) app.impressions = false;
      apps[name] = app;
    }
  }
  const keys = readKeys(raw.keys, 'keys', undefined, env, problems);
  // A key belongs to exactly one place; two apps never share a store file.
  const seenKeys = new Map<string, string>();
  const all = [...keys.map((k) => ['keys', k] as const), ...Object.values(apps).flatMap((a) => a.keys.map((k) => [`apps.${a.name}.keys`, k] as const))];
  for (const [where, k] of all) {
    const prev = seenKeys.get(k.key);
    if (prev !== undefined) problems.push(`${where}: the key ${mask(k.key)} is also listed in ${prev}; a key belongs to one app (or to the top-level keys)`);
    else seenKeys.set(k.key, where);
  }
  const dbs = new Map<string, string>();
  for (const a of Object.values(apps)) {
    if (!a.db || a.db === ':memory:') continue;
    const prev = dbs.get(a.db);
    if (prev !== undefined) problems.push(`apps.${a.name}.db: ${a.db} is also the store of app '${prev}'; each app needs its own file`);
    else dbs.set(a.db, a.name);
  }
  if (problems.length) throw new ConfigError(source, problems);
  return { server, apps, keys, source };
}

/** Reads and validates a configuration file; paths in it are relative to its folder. */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const abs = resolve(path);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read the configuration file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, { baseDir: dirname(abs), source: path, env });
}

export interface DefaultConfigOptions {
  /** Store of the single 'default' app (default $FUNNEL_DB or ./funnel.db). */
  db?: string;
  models?: string;
  /** Keys given as flags; they span the single app. None: authentication is off. */
  keys?: KeyConfig[];
  server?: Partial<ServerSettings>;
}

/** The configuration without a file: one app named 'default'. */
export function defaultConfig(opts: DefaultConfigOptions = {}): ServerConfig {
  const db = opts.db ?? process.env.FUNNEL_DB ?? DEFAULT_DB;
  const app: AppConfig = {
    name: 'default',
    db: db === ':memory:' ? db : resolve(db),
    keys: (opts.keys ?? []).map((k) => ({ ...k, app: 'default' })),
    store: {},
  };
  if (opts.models) app.models = resolve(opts.models);
  return { server: { ...DEFAULT_SERVER, ...opts.server }, apps: { default: app }, keys: [], source: 'command line' };
}

/** True when any key is configured: every non-public route then needs one. */
export function authEnabled(config: ServerConfig): boolean {
  return config.keys.length > 0 || Object.values(config.apps).some((a) => a.keys.length > 0);
}
