/**
 * In-process token buckets, one per API key (or client address when authentication is off).
 * A bucket holds up to `burst` tokens and refills at `rps` tokens per second; each request takes
 * one. With `--workers N`, every worker keeps its own buckets: the effective limit of a key is
 * up to N times the configured one (configure rps / N to bound the total).
 */
import type { RateLimitConfig } from './config.js';

interface Bucket {
  tokens: number;
  last: number;
  rps: number;
  burst: number;
}

export interface TakeResult {
  ok: boolean;
  /** Tokens left after this request (floored). */
  remaining: number;
  /** When refused: milliseconds until one token is available. */
  retryAfterMs: number;
  limit: number;
}

/** Sweeps idle full buckets once the table grows past this many entries. */
const SWEEP_AT = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.now = now;
  }

  /** Takes one token from `id`'s bucket under `limit`. */
  take(id: string, limit: RateLimitConfig): TakeResult {
    const t = this.now();
    let b = this.buckets.get(id);
    if (!b || b.rps !== limit.rps || b.burst !== limit.burst) {
      if (this.buckets.size >= SWEEP_AT) this.sweep(t);
      b = { tokens: limit.burst, last: t, rps: limit.rps, burst: limit.burst };
      this.buckets.set(id, b);
    } else {
      b.tokens = Math.min(b.burst, b.tokens + ((t - b.last) / 1000) * b.rps);
      b.last = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true, remaining: Math.floor(b.tokens), retryAfterMs: 0, limit: b.burst };
    }
    return { ok: false, remaining: 0, retryAfterMs: Math.ceil(((1 - b.tokens) / b.rps) * 1000), limit: b.burst };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Forgets buckets that have refilled completely (they behave exactly like new ones). */
  sweep(t = this.now()): void {
    for (const [id, b] of this.buckets) {
      if (b.tokens + ((t - b.last) / 1000) * b.rps >= b.burst) this.buckets.delete(id);
    }
  }
}
