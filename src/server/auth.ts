/**
 * API keys and scopes. A key is sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`; it has
 * scopes (ingest, read, admin — admin implies the other two) and belongs to one app, or to none
 * when it is listed in the configuration's top-level `keys` (then it spans every app).
 * Keys are looked up by their SHA-256 digest, so no comparison leaks timing about a key.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './errors.js';
import { authEnabled, mask, type ServerConfig } from './config.js';
import { SCOPES, type Principal, type RouteAccess, type Scope } from './types.js';

function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The key a request carries, or undefined. Throws 401 for an Authorization header of another scheme. */
export function extractKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.trim() !== '') {
    const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new ApiError('UNAUTHORIZED', 'the Authorization header must be "Bearer KEY" (or send the key as X-API-Key)');
    return m[1];
  }
  const x = headers['x-api-key'];
  const v = Array.isArray(x) ? x[0] : x;
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

/** admin implies ingest and read. */
export function hasScope(principal: Principal, needed: Scope): boolean {
  return principal.scopes.has(needed) || principal.scopes.has('admin');
}

const ALL_SCOPES: ReadonlySet<Scope> = new Set(SCOPES);

export class KeyRing {
  /** False when no key is configured: every request is let in with every scope. */
  readonly enabled: boolean;
  private readonly byDigest = new Map<string, Principal>();

  constructor(config: ServerConfig) {
    this.enabled = authEnabled(config);
    const keys = [...config.keys, ...Object.values(config.apps).flatMap((a) => a.keys)];
    for (const k of keys) {
      const d = digest(k.key);
      const p: Principal = {
        label: k.name ?? `key:${mask(k.key)}`,
        bucket: `key:${d.slice(0, 32)}`,
        scopes: new Set(k.scopes),
        app: k.app,
        rateLimit: k.rateLimit,
      };
      this.byDigest.set(d, p);
    }
  }

  lookup(key: string): Principal | undefined {
    return this.byDigest.get(digest(key));
  }

  /**
   * Authenticates a request for a route needing `access`: returns the principal (undefined for
   * public routes without a key), or throws 401/403.
   */
  authenticate(headers: IncomingHttpHeaders, clientAddress: string, access: RouteAccess): Principal | undefined {
    if (!this.enabled) return { label: 'anonymous', bucket: `ip:${clientAddress}`, scopes: ALL_SCOPES };
    if (access === 'public') return undefined;
    const key = extractKey(headers);
    if (key === undefined) throw new ApiError('UNAUTHORIZED', 'an API key is required: send "Authorization: Bearer KEY" or "X-API-Key: KEY"');
    const p = this.lookup(key);
    if (!p) throw new ApiError('INVALID_API_KEY', 'unknown API key');
    if (!hasScope(p, access)) {
      throw new ApiError('FORBIDDEN', `this key lacks the '${access}' scope (it has: ${[...p.scopes].join(', ')})`);
    }
    return p;
  }
}
