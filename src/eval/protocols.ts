/**
 * Offline evaluation protocols: how a dataset of timelines becomes training data and held-out
 * users with a fold-in part (the input the model sees) and a target part (what it must find).
 *
 *  - `strongGeneralization`: the Mult-VAE protocol (Liang et al. 2018) that the LED paper's
 *    ML-20M experiments reuse (§6.2): ratings > 3.5 binarized, users with >= 5 events, disjoint
 *    validation and test users, each held-out user's events split at random 80% fold-in / 20%
 *    target. Models never see held-out users in training.
 *  - `temporalSplit`: each user's last n events (or last d days) are the target, their earlier
 *    events the fold-in (and the training data); validation users are disjoint (the LED paper's
 *    Products protocol: last 7 days as target, users split 90/10 into train/validation).
 *  - `leaveOneOutSampled`: the last event as target, ranked among N sampled negatives. FOR
 *    COMPARISON WITH OLDER PAPERS ONLY: sampled metrics are inconsistent with the full ranking
 *    and can reverse model orderings (Krichene & Rendle, KDD 2020).
 *
 * Everything is seeded and deterministic. Item indices are never renumbered.
 */
import {
  filterEvents, gatherEvents, itemCounts, numEvents, selectUsers, SmallRng, type Timelines,
} from '../models/retrieval/types.js';

/** Held-out users: row r of foldIn / target (and candidates) is user `users[r]`. */
export interface HeldOut {
  /** Original user indices (ascending). */
  users: Int32Array;
  /** The input the model sees (time order kept). */
  foldIn: Timelines;
  /** The items to retrieve (may be empty for a user: that user is skipped by the metrics). */
  target: Timelines;
  /**
   * Sampled candidate lists (leave-one-out protocol only): rank the target among these items
   * instead of the whole catalog. Row r holds the target(s) and the sampled negatives, shuffled.
   */
  candidates?: Timelines;
}

export interface SplitStats {
  users: number;
  items: number;
  events: number;
}

export interface Split {
  protocol: 'strong-generalization' | 'temporal' | 'leave-one-out-sampled';
  numItems: number;
  /** Training timelines; row r is user `trainUsers[r]`. */
  train: Timelines;
  trainUsers: Int32Array;
  validation: HeldOut;
  test: HeldOut;
  /** The options used (defaults filled in). */
  params: Record<string, unknown>;
  stats: { input: SplitStats; train: SplitStats; validation: SplitStats & { targetEvents: number }; test: SplitStats & { targetEvents: number } };
}

// ---------------------------------------------------------------------------------------------

export interface PreprocessOptions {
  /** Keep events with value > valueAbove (strict). Events without a value are dropped when set. */
  valueAbove?: number;
  /** Keep events with value >= minValue. */
  minValue?: number;
  /** Then keep users with at least this many (distinct) events (default 1). */
  minUserEvents?: number;
  /** Keep one event per (user, item): the first (default true; "binarized"). */
  dedupe?: boolean;
}

/** Value filter, (user, item) dedupe and the minimum-events user filter, in that order. */
export function preprocess(data: Timelines, opts: PreprocessOptions = {}): Timelines {
  const above = opts.valueAbove;
  const min = opts.minValue;
  if ((above !== undefined || min !== undefined) && !data.values) throw new Error('preprocess: a value filter needs values in the data');
  const dedupe = opts.dedupe ?? true;
  const stamp = new Int32Array(data.numItems).fill(-1);
  let t = filterEvents(data, (p, u) => {
    if (above !== undefined && !(data.values![p] > above)) return false;
    if (min !== undefined && !(data.values![p] >= min)) return false;
    if (dedupe) {
      const i = data.items[p];
      if (stamp[i] === u) return false;
      stamp[i] = u;
    }
    return true;
  });
  const minUser = opts.minUserEvents ?? 1;
  if (minUser > 1) {
    const keep = new Uint8Array(t.numUsers);
    for (let u = 0; u < t.numUsers; u++) keep[u] = t.indptr[u + 1] - t.indptr[u] >= minUser ? 1 : 0;
    t = filterEvents(t, (_p, u) => keep[u] === 1);
  }
  return t;
}

function shuffle(a: Int32Array, rng: SmallRng): Int32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

function statsOf(t: Timelines): SplitStats {
  let users = 0;
  for (let u = 0; u < t.numUsers; u++) if (t.indptr[u + 1] > t.indptr[u]) users++;
  const seen = new Uint8Array(t.numItems);
  let items = 0;
  for (let p = 0; p < numEvents(t); p++) if (!seen[t.items[p]]) { seen[t.items[p]] = 1; items++; }
  return { users, items, events: numEvents(t) };
}

function heldOutStats(h: HeldOut): SplitStats & { targetEvents: number } {
  const s = statsOf(h.foldIn);
  return { ...s, users: h.users.length, targetEvents: numEvents(h.target) };
}

/**
 * Splits every row of `t` into two Timelines by a per-event decision `toTarget(p, u)`.
 */
function partition(t: Timelines, toTarget: (p: number, u: number) => boolean): { foldIn: Timelines; target: Timelines } {
  const fi: number[] = [];
  const tg: number[] = [];
  const fiPtr = new Int32Array(t.numUsers + 1);
  const tgPtr = new Int32Array(t.numUsers + 1);
  for (let u = 0; u < t.numUsers; u++) {
    for (let p = t.indptr[u]; p < t.indptr[u + 1]; p++) (toTarget(p, u) ? tg : fi).push(p);
    fiPtr[u + 1] = fi.length;
    tgPtr[u + 1] = tg.length;
  }
  return { foldIn: gatherEvents(t, fiPtr, fi), target: gatherEvents(t, tgPtr, tg) };
}

function activeUsers(t: Timelines): Int32Array {
  const out: number[] = [];
  for (let u = 0; u < t.numUsers; u++) if (t.indptr[u + 1] > t.indptr[u]) out.push(u);
  return Int32Array.from(out);
}

// ---------------------------------------------------------------------------------------------

export interface StrongGeneralizationOptions extends PreprocessOptions {
  /** Held-out validation users (default 100; the Mult-VAE ML-20M setting is 10,000). */
  validationUsers?: number;
  /** Held-out test users (default 100). */
  testUsers?: number;
  /** Share of each held-out user's events used as target (default 0.2). */
  targetFraction?: number;
  /** 'random' (default, Mult-VAE) or 'last': the most recent events are the target. */
  targetSelection?: 'random' | 'last';
  /** Held-out users with fewer events (after the item filter) get no target (default 5). */
  minHeldOutEvents?: number;
  /** Drop held-out events on items absent from training (default true, as Mult-VAE). */
  dropUnseenItems?: boolean;
  /** Default 98765 (the Mult-VAE notebook's seed; the RNG differs, so do the users drawn). */
  seed?: number;
}

/**
 * The Mult-VAE strong-generalization protocol. Defaults: `valueAbove` 3.5 when the data has
 * values (an explicit `valueAbove: undefined` disables the filter), `minUserEvents` 5, 100
 * validation and 100 test users, 80/20 fold-in split of each held-out user (target =
 * max(1, floor(0.2·n)) events; users left with fewer than `minHeldOutEvents` events after the
 * item filter keep everything as fold-in and have no target).
 */
export function strongGeneralization(data: Timelines, opts: StrongGeneralizationOptions = {}): Split {
  const valueAbove = 'valueAbove' in opts ? opts.valueAbove : data.values ? 3.5 : undefined;
  const p: Required<Omit<StrongGeneralizationOptions, 'valueAbove' | 'minValue'>> & Pick<PreprocessOptions, 'valueAbove' | 'minValue'> = {
    valueAbove,
    minValue: opts.minValue,
    minUserEvents: opts.minUserEvents ?? 5,
    dedupe: opts.dedupe ?? true,
    validationUsers: opts.validationUsers ?? 100,
    testUsers: opts.testUsers ?? 100,
    targetFraction: opts.targetFraction ?? 0.2,
    targetSelection: opts.targetSelection ?? 'random',
    minHeldOutEvents: opts.minHeldOutEvents ?? 5,
    dropUnseenItems: opts.dropUnseenItems ?? true,
    seed: opts.seed ?? 98765,
  };
  if (!(p.targetFraction > 0 && p.targetFraction < 1)) throw new Error(`targetFraction must be in (0, 1), got ${p.targetFraction}`);
  const clean = preprocess(data, p);
  const users = activeUsers(clean);
  const nHeld = p.validationUsers + p.testUsers;
  if (nHeld >= users.length) {
    throw new Error(`strongGeneralization: ${nHeld} held-out users requested but only ${users.length} users pass the filters`);
  }
  const rng = new SmallRng(p.seed);
  const perm = shuffle(users.slice(), rng);
  const trainUsers = perm.slice(0, users.length - nHeld).sort();
  const valUsers = perm.slice(users.length - nHeld, users.length - p.testUsers).sort();
  const testUsers = perm.slice(users.length - p.testUsers).sort();
  const train = selectUsers(clean, trainUsers);
  const inTrain = new Uint8Array(data.numItems);
  for (let q = 0; q < numEvents(train); q++) inTrain[train.items[q]] = 1;

  const holdOut = (us: Int32Array): HeldOut => {
    let t = selectUsers(clean, us);
    if (p.dropUnseenItems) t = filterEvents(t, (q) => inTrain[t.items[q]] === 1);
    const mark = new Uint8Array(numEvents(t));
    for (let r = 0; r < t.numUsers; r++) {
      const a = t.indptr[r];
      const n = t.indptr[r + 1] - a;
      if (n < p.minHeldOutEvents) continue;
      const m = Math.max(1, Math.floor(p.targetFraction * n));
      if (p.targetSelection === 'last') {
        for (let q = n - m; q < n; q++) mark[a + q] = 1;
      } else {
        const pos = shuffle(Int32Array.from({ length: n }, (_, q) => q), rng);
        for (let q = 0; q < m; q++) mark[a + pos[q]] = 1;
      }
    }
    const { foldIn, target } = partition(t, (q) => mark[q] === 1);
    return { users: us, foldIn, target };
  };
  const validation = holdOut(valUsers);
  const test = holdOut(testUsers);
  return {
    protocol: 'strong-generalization',
    numItems: data.numItems,
    train,
    trainUsers,
    validation,
    test,
    params: { ...p },
    stats: { input: statsOf(clean), train: statsOf(train), validation: heldOutStats(validation), test: heldOutStats(test) },
  };
}

// ---------------------------------------------------------------------------------------------

export interface TemporalOptions extends PreprocessOptions {
  /** Target = each user's last n events ... */
  lastN?: number;
  /** ... or the events of their last d days (timestamp > last − d days). One of the two. */
  lastDays?: number;
  /** Validation users (disjoint from training): a count >= 1 or a fraction < 1 (default 0.1). */
  validationUsers?: number;
  /** Sample this many test users among the eligible ones (default: all). */
  testUsers?: number;
  /** Drop target events on items absent from training (default true). */
  dropUnseenItems?: boolean;
  seed?: number;
}

/**
 * Temporal hold-out. A user is eligible when both their prefix and their tail are non-empty.
 * Validation users are drawn among the eligible ones and removed from training entirely; the
 * training data is every other user's prefix (tails removed); test users are the remaining
 * eligible users (fold-in = their prefix, which is also training data). The cut is per user,
 * so events of one user's tail can predate another user's training events.
 */
export function temporalSplit(data: Timelines, opts: TemporalOptions): Split {
  if ((opts.lastN === undefined) === (opts.lastDays === undefined)) throw new Error('temporalSplit: give exactly one of lastN, lastDays');
  if (opts.lastDays !== undefined && !data.timestamps) throw new Error('temporalSplit: lastDays needs timestamps');
  const p = {
    valueAbove: opts.valueAbove, minValue: opts.minValue, minUserEvents: opts.minUserEvents ?? 2, dedupe: opts.dedupe ?? true,
    lastN: opts.lastN, lastDays: opts.lastDays, validationUsers: opts.validationUsers ?? 0.1,
    testUsers: opts.testUsers, dropUnseenItems: opts.dropUnseenItems ?? true, seed: opts.seed ?? 98765,
  };
  const clean = preprocess(data, p);
  const inTail = new Uint8Array(numEvents(clean));
  const eligible: number[] = [];
  for (let u = 0; u < clean.numUsers; u++) {
    const a = clean.indptr[u];
    const b = clean.indptr[u + 1];
    if (b === a) continue;
    let cut: number;
    if (p.lastN !== undefined) cut = Math.max(a, b - p.lastN);
    else {
      const from = clean.timestamps![b - 1] - p.lastDays! * 86_400_000;
      cut = b;
      while (cut > a && clean.timestamps![cut - 1] > from) cut--;
    }
    for (let q = cut; q < b; q++) inTail[q] = 1;
    if (cut > a && cut < b) eligible.push(u);
  }
  const rng = new SmallRng(p.seed);
  const perm = shuffle(Int32Array.from(eligible), rng);
  const nVal = p.validationUsers >= 1 ? Math.min(Math.floor(p.validationUsers), perm.length) : Math.round(p.validationUsers * perm.length);
  const valUsers = perm.slice(0, nVal).sort();
  let testUsers = perm.slice(nVal);
  if (p.testUsers !== undefined && p.testUsers < testUsers.length) testUsers = testUsers.slice(0, p.testUsers);
  testUsers.sort();
  const isVal = new Uint8Array(clean.numUsers);
  for (const u of valUsers) isVal[u] = 1;
  const prefixes = filterEvents(clean, (q, u) => !inTail[q] && !isVal[u]);
  const trainUsers = activeUsers(prefixes);
  const train = selectUsers(prefixes, trainUsers);
  const inTrain = new Uint8Array(data.numItems);
  for (let q = 0; q < numEvents(train); q++) inTrain[train.items[q]] = 1;

  const holdOut = (us: Int32Array): HeldOut => {
    const rows = selectUsers(clean, us);
    // Positions in `rows` map back to `clean` positions user by user.
    const tailMark = new Uint8Array(numEvents(rows));
    for (let r = 0; r < us.length; r++) {
      const a = clean.indptr[us[r]];
      for (let q = rows.indptr[r]; q < rows.indptr[r + 1]; q++) tailMark[q] = inTail[a + q - rows.indptr[r]];
    }
    const { foldIn, target } = partition(rows, (q) => tailMark[q] === 1);
    const tg = p.dropUnseenItems ? filterEvents(target, (q) => inTrain[target.items[q]] === 1) : target;
    return { users: us, foldIn, target: tg };
  };
  const validation = holdOut(valUsers);
  const test = holdOut(testUsers);
  return {
    protocol: 'temporal',
    numItems: data.numItems,
    train,
    trainUsers,
    validation,
    test,
    params: { ...p },
    stats: { input: statsOf(clean), train: statsOf(train), validation: heldOutStats(validation), test: heldOutStats(test) },
  };
}

// ---------------------------------------------------------------------------------------------

export interface LeaveOneOutOptions extends PreprocessOptions {
  /** Sampled negatives per held-out event (default 100, as NCF). */
  negatives?: number;
  seed?: number;
}

/**
 * Leave-one-out with sampled negatives — FOR COMPARISON WITH OLDER PAPERS ONLY (NCF-style
 * HR@10 / NDCG@10 over 1 positive + 100 negatives). Prefer `strongGeneralization`: sampled
 * metrics do not preserve the ordering of models under full ranking (Krichene & Rendle 2020).
 *
 * Users with >= 3 events: the last event is the test target, the second-to-last the validation
 * target; training holds everything else. Test fold-in = all events before the last one;
 * validation fold-in = events before the second-to-last. Negatives are drawn uniformly among
 * the training items the user never interacted with.
 */
export function leaveOneOutSampled(data: Timelines, opts: LeaveOneOutOptions = {}): Split {
  const p = {
    valueAbove: opts.valueAbove, minValue: opts.minValue, minUserEvents: Math.max(3, opts.minUserEvents ?? 3),
    dedupe: opts.dedupe ?? true, negatives: opts.negatives ?? 100, seed: opts.seed ?? 98765,
  };
  const clean = preprocess(data, p);
  const users = activeUsers(clean);
  const role = new Uint8Array(numEvents(clean)); // 0 train, 1 validation target, 2 test target
  for (const u of users) {
    const b = clean.indptr[u + 1];
    role[b - 1] = 2;
    role[b - 2] = 1;
  }
  const all = selectUsers(clean, users);
  const roleRows = new Uint8Array(numEvents(all));
  for (let r = 0; r < users.length; r++) {
    const a = clean.indptr[users[r]];
    for (let q = all.indptr[r]; q < all.indptr[r + 1]; q++) roleRows[q] = role[a + q - all.indptr[r]];
  }
  const train = filterEvents(all, (q) => roleRows[q] === 0);
  const trainCounts = itemCounts(train);
  const pool: number[] = [];
  for (let i = 0; i < data.numItems; i++) if (trainCounts[i] > 0) pool.push(i);
  const rng = new SmallRng(p.seed);

  const make = (which: 1 | 2): HeldOut => {
    const foldIn = filterEvents(all, (q) => roleRows[q] === 0 || (which === 2 && roleRows[q] === 1));
    const target = filterEvents(all, (q) => roleRows[q] === which);
    const cPtr = new Int32Array(users.length + 1);
    const cItems: number[] = [];
    const touched = new Int32Array(data.numItems).fill(-1);
    for (let r = 0; r < users.length; r++) {
      for (let q = all.indptr[r]; q < all.indptr[r + 1]; q++) touched[all.items[q]] = r;
      const row: number[] = [target.items[target.indptr[r]]];
      const available = pool.length - pool.filter((i) => touched[i] === r).length;
      const want = Math.min(p.negatives, available);
      const chosen = new Set<number>();
      while (chosen.size < want) {
        const i = pool[rng.int(pool.length)];
        if (touched[i] !== r) chosen.add(i);
      }
      row.push(...chosen);
      const arr = shuffle(Int32Array.from(row), rng);
      cItems.push(...arr);
      cPtr[r + 1] = cItems.length;
    }
    const candidates: Timelines = { numUsers: users.length, numItems: data.numItems, indptr: cPtr, items: Int32Array.from(cItems) };
    return { users, foldIn, target, candidates };
  };
  const validation = make(1);
  const test = make(2);
  return {
    protocol: 'leave-one-out-sampled',
    numItems: data.numItems,
    train,
    trainUsers: users,
    validation,
    test,
    params: { ...p, warning: 'sampled metrics: for comparison with older papers only' },
    stats: { input: statsOf(clean), train: statsOf(train), validation: heldOutStats(validation), test: heldOutStats(test) },
  };
}

