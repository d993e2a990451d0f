/**
 * Time buckets and window semantics shared by every ProfileStore implementation (and by the
 * conformance suite's brute-force reference), so that "exact at bucket granularity" means the
 * same thing in memory and in Redis.
 *
 * Buckets are epoch-aligned (UTC): bucket b of a level with granularity g covers
 * [b·g, (b+1)·g). A level keeps the `buckets` most recent buckets, counted back from the bucket
 * that holds the store's clock (the latest event timestamp seen): with the defaults, minutes for
 * 2 hours, hours for 8 days, days for 40 days.
 *
 * A window query (windowMs = W, now) is answered from ONE level: the finest level whose
 * retained buckets reach back far enough (see `resolveWindow`). It counts the n = ⌈W/g⌉
 * buckets ending with the bucket that contains `now`, i.e. events with a timestamp in
 * [(last−n+1)·g, (last+1)·g) where last = ⌊now/g⌋. So:
 *  - a window whose end is a bucket boundary (now = k·g − 1 ms, W a multiple of g) is exact;
 *  - otherwise, against the exact window (now−W, now], the answer can differ only by the
 *    events of the oldest bucket counted, of the bucket just before it, and of the part of the
 *    current bucket after `now` (there is none when events do not come from the future):
 *    the error is bounded by one bucket of the chosen level at each end.
 *  - 1 h windows are minute-exact, 1 d and 7 d windows hour-exact, 30 d windows day-exact.
 */

export interface LevelSpec {
  /** Name used in keys and stats ('minute', 'hour', 'day'). */
  name: string;
  /** Bucket width, ms. At least one minute (bucket ids stay small integers). */
  granularityMs: number;
  /** How many buckets the level keeps (the current one included). */
  buckets: number;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** Defaults: minute precision up to 2 h, hour precision up to 8 days, day precision up to 40 days. */
export const DEFAULT_LEVELS: readonly LevelSpec[] = Object.freeze([
  { name: 'minute', granularityMs: MINUTE_MS, buckets: 120 },
  { name: 'hour', granularityMs: HOUR_MS, buckets: 192 },
  { name: 'day', granularityMs: DAY_MS, buckets: 40 },
]);

/** At most 4 levels (implementations pack the level into 2 bits). */
export const MAX_LEVELS = 4;

export function validateLevels(levels: readonly LevelSpec[]): void {
  if (levels.length === 0 || levels.length > MAX_LEVELS) throw new Error(`profiles: between 1 and ${MAX_LEVELS} levels, got ${levels.length}`);
  let prev = 0;
  for (const [i, l] of levels.entries()) {
    if (!Number.isInteger(l.granularityMs) || l.granularityMs < MINUTE_MS) {
      throw new Error(`profiles: levels[${i}] (${l.name}).granularityMs must be an integer >= ${MINUTE_MS}, got ${l.granularityMs}`);
    }
    if (!Number.isInteger(l.buckets) || l.buckets < 2 || l.buckets > 100_000) {
      throw new Error(`profiles: levels[${i}] (${l.name}).buckets must be an integer in [2, 100000], got ${l.buckets}`);
    }
    if (l.granularityMs <= prev) throw new Error(`profiles: levels[${i}] (${l.name}) must be coarser than the level before it`);
    prev = l.granularityMs;
  }
}

/** The longest window the levels can answer (the coarsest level's retention). */
export function maxWindowMs(levels: readonly LevelSpec[]): number {
  const l = levels[levels.length - 1];
  return l.granularityMs * l.buckets;
}

/** Bucket id of a timestamp at a granularity. */
export function bucketOf(ts: number, granularityMs: number): number {
  return Math.floor(ts / granularityMs);
}

/** Whether bucket `b` of `level` is still retained when the clock is at `clock`. */
export function retained(level: LevelSpec, b: number, clock: number): boolean {
  return b > bucketOf(clock, level.granularityMs) - level.buckets;
}

export interface ResolvedWindow {
  /** Index of the level answering the query. */
  level: number;
  granularityMs: number;
  /** Bucket ids counted: first..last inclusive. */
  first: number;
  last: number;
  /** Time covered: [from, to). */
  from: number;
  to: number;
}

/**
 * The buckets a window query reads. The level is the finest one where ⌈W/g⌉ buckets fit in
 * the level's retention and the oldest of them is still retained at `clock` (so a query about
 * the past falls back to a coarser level). Throws a RangeError when W exceeds every level.
 */
export function resolveWindow(levels: readonly LevelSpec[], windowMs: number, now: number, clock: number): ResolvedWindow {
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`profiles: windowMs must be a positive number, got ${windowMs}`);
  if (!Number.isFinite(now)) throw new RangeError(`profiles: now must be a finite epoch ms, got ${now}`);
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    const n = Math.ceil(windowMs / l.granularityMs);
    if (n > l.buckets) continue;
    const last = bucketOf(now, l.granularityMs);
    const first = last - n + 1;
    if (i < levels.length - 1 && Number.isFinite(clock) && !retained(l, first, clock)) continue;
    return { level: i, granularityMs: l.granularityMs, first, last, from: first * l.granularityMs, to: (last + 1) * l.granularityMs };
  }
  throw new RangeError(`profiles: a window of ${windowMs} ms is longer than the longest one kept (${maxWindowMs(levels)} ms)`);
}
