/**
 * The recommendation service of one app: request → user state (history read from the store at
 * request time and encoded by the model: a new event changes the next answer without
 * retraining) → the scene's funnel → ids. Unknown users and empty histories get the null user
 * vector, i.e. the items with the highest learned bias — never an error.
 */
import type { Event } from '../data/model.js';
import { Funnel } from '../funnel/pipeline.js';
import type { CandidateGenerator, FunnelTimings, RequestContext, RerankRule } from '../funnel/types.js';
import type { ServedImpressions, Store, TimelineOptions } from '../store/types.js';
import type { FunnelConfig, SceneConfig } from '../train/config.js';
import type { LoadedArtifact } from './artifact.js';
import { ItemKnnGenerator, LedGenerator, RankedListGenerator } from './generators.js';
import { servingProfile } from './profile.js';
import { requestId as newRequestId } from './request-id.js';
import { catalogEmbeddings, SceneRules, withEmbeddings } from './rules.js';
import type { ItemCatalog } from '../funnel/catalog.js';
import { ruleEffects } from '../funnel/rules.js';
import { RankerScorer, rankFusionFor } from '../funnel/pipeline.js';
import type { Scorer } from '../funnel/types.js';
import { encodeProvenance, provenanceSources } from '../data/provenance.js';
import type { RankingModel } from '../rank/model.js';
import type { ProfileStore } from '../profiles/types.js';

/** What serving needs to know about items, by dense index. */
export interface ServingCatalog {
  /** Number of indices known. */
  readonly size: number;
  id(item: number): string | undefined;
  /** Dense index of an id, -1 when unknown or deleted. */
  index(id: string): number;
  /** Exists, not deleted, available. */
  servable(item: number): boolean;
  /** Optional: `servable` as bytes (1: servable; length `size`), for the generators' tight loops. */
  servableMask?(): Uint8Array;
  /** NaN when unknown. */
  price(item: number): number;
  hasCategory(item: number, category: string): boolean;
  /** Items created within `maxAgeMs` of `now`, newest first, with their age-decayed score. */
  fresh(maxAgeMs: number, now: number): { items: Int32Array; scores: Float32Array };
  /** The full item metadata (attributes, age...) read by the scenes' re-ranking rules. */
  readonly snapshot?: ItemCatalog;
}

export interface RecommendFilters {
  categories?: string[];
  minPrice?: number;
  maxPrice?: number;
  /** Only available items (default true). */
  availableOnly?: boolean;
}

export interface RecommendRequest {
  userId?: string;
  /** Explicit history (item ids, most recent first) for anonymous users or what-if queries. */
  history?: string[];
  k?: number;
  scene?: string;
  filters?: RecommendFilters;
  /** Items never to return. */
  exclude?: string[];
  /** Exclude items the user already interacted with (default true). */
  excludeSeen?: boolean;
  /** Paging: a page > 1 of the same session never repeats items of earlier pages. */
  session?: string;
  page?: number;
  debug?: boolean;
}

export interface RecommendedItem {
  id: string;
  score: number;
  /** Generators that proposed the item. */
  sources: string[];
  debug?: { sources: { generator: string; rank: number; score: number }[]; trace: string[] };
}

export interface RecommendResponse {
  requestId: string;
  scene: string;
  modelVersion: string;
  items: RecommendedItem[];
  /** Present with debug: candidates considered and the time of each stage. */
  debug?: {
    candidates: number;
    historyLength: number;
    timings: FunnelTimings & { history_ms: number };
    /** Items the re-ranking rules removed, with the rule and the reason. */
    removed?: { id: string; score: number; rank: number; rule: string; reason: string }[];
  };
}

export interface ServiceOptions {
  /** Log one impression event per returned item (default true). */
  logImpressions?: boolean;
  /** Largest k a request may ask (default 1000). */
  maxK?: number;
  /** Sessions remembered for paging (LRU, default 100,000) and for how long (default 30 min). */
  maxSessions?: number;
  sessionTtlMs?: number;
  now?: () => number;
  /** Extra rules per scene (built from the scene configuration by the caller). */
  rules?: (scene: string, cfg: SceneConfig) => RerankRule[];
  /** The artifact's trained ranker (scenes with `"scorer": "ranker"`), with the live profiles it reads. */
  ranker?: RankingModel;
  profiles?: ProfileStore;
}

export class UnknownSceneError extends Error {
  constructor(readonly scene: string, readonly known: string[]) {
    super(`unknown scene '${scene}' (configured: ${known.join(', ')})`);
  }
}

export class UnknownItemError extends Error {
  constructor(readonly item: string) {
    super(`unknown item '${item}'`);
  }
}

/** A bounded LRU of served items per session (for paging without repeats). */
class SessionMemory {
  private readonly map = new Map<string, { at: number; items: Set<number> }>();
  constructor(private readonly max: number, private readonly ttl: number) {}
  get(key: string, now: number): Set<number> | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (now - e.at > this.ttl) {
      this.map.delete(key);
      return undefined;
    }
    return e.items;
  }
  add(key: string, items: Iterable<number>, now: number): void {
    let e = this.map.get(key);
    if (e) this.map.delete(key);
    else e = { at: now, items: new Set() };
    e.at = now;
    for (const i of items) e.items.add(i);
    this.map.set(key, e);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
  get size(): number {
    return this.map.size;
  }
}

/** One response's impressions, with the item ids for stores without `appendServed` (only then). */
export type Served = ServedImpressions & { itemIds?: string[] };

/**
 * Impressions are buffered and written every `flushMs` (or as soon as `maxBuffer` wait), in
 * transactions of at most `chunk` events with the event loop free between them. A write holds
 * the loop (the SQLite driver is synchronous; when each impression was a row, 3–10 µs per
 * impression on a 1M-item store, the upper end while the store's id cache is cold: one
 * transaction of 5,000 held every request in flight for ~20 ms (the p99), chunks of 500 held it
 * 2–5 ms, chunks of 100 ~0.3–1 ms, for a few percent more write time than one large
 * transaction). The SQLite store now writes a response as one row (~2 µs per impression), so
 * a transaction holds ~20 responses (400 impressions): ~0.5 ms of the loop each, and 25 µs of
 * CPU per 20-item response against 34 with 5 per transaction (the commit's WAL frames are
 * 16 KiB pages; 21 µs with 50 per transaction, for twice the hold).
 */
export class ImpressionLog {
  private buf: Served[] = [];
  /** Impressions in `buf`. */
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The writes under way (flushes run one after the other). */
  private writing: Promise<void> | undefined;
  constructor(private readonly store: Store, private readonly flushMs = 200, private readonly maxBuffer = 5000, private readonly chunk = 400) {}
  push(served: Served): void {
    this.buf.push(served);
    this.count += served.items.length;
    if (this.count >= this.maxBuffer) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs);
      this.timer.unref();
    }
  }
  /** Writes what is buffered now; resolves when it (and every earlier flush) is stored. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buf;
    this.buf = [];
    this.count = 0;
    const p = (this.writing ?? Promise.resolve()).then(() => this.write(batch));
    this.writing = p;
    void p.finally(() => {
      if (this.writing === p) this.writing = undefined;
    });
    return p;
  }
  private async write(batch: Served[]): Promise<void> {
    let a = 0;
    while (a < batch.length) {
      if (a > 0) await new Promise<void>((r) => setImmediate(r));
      // Whole responses, about `chunk` impressions per transaction.
      let b = a;
      let n = 0;
      while (b < batch.length && (b === a || n + batch[b].items.length <= this.chunk)) n += batch[b++].items.length;
      const part = a === 0 && b === batch.length ? batch : batch.slice(a, b);
      a = b;
      // Stores without the trusted path get the equivalent events.
      const done = this.store.appendServed ? this.store.appendServed(part) : this.store.appendEvents(part.flatMap(servedEvents));
      await done.catch(() => undefined);
    }
  }
}

/** The 'impression' events equivalent to one response's impressions. */
function servedEvents(s: Served): Event[] {
  const ids = s.itemIds ?? [];
  const sources = s.provenance ? provenanceSources(s.provenance, ids.length) : [];
  return ids.map((itemId, position) => ({
    userId: s.userId, itemId, type: 'impression', timestamp: s.timestamp,
    context: { requestId: s.requestId, position, scene: s.scene, ...(sources[position] ? { sources: sources[position] } : {}) },
  }));
}

export class RecommendationService {
  private readonly funnels = new Map<string, Funnel>();
  private readonly sessions: SessionMemory;
  private readonly impressions: ImpressionLog;
  private readonly historyTypes: string[];
  private dislikeCode = -2;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    readonly artifact: LoadedArtifact,
    private readonly catalog: ServingCatalog,
    readonly config: FunnelConfig,
    private readonly opts: ServiceOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.sessions = new SessionMemory(opts.maxSessions ?? 100_000, opts.sessionTtlMs ?? 30 * 60_000);
    this.impressions = new ImpressionLog(store);
    this.historyTypes = config.training.eventTypes;
    for (const [name, scene] of Object.entries(config.scenes)) this.funnels.set(name, this.buildFunnel(name, scene));
  }

  get version(): string {
    return this.artifact.version;
  }

  private buildFunnel(name: string, scene: SceneConfig): Funnel {
    const a = this.artifact;
    const slots = scene.generators.map((g) => {
      const gname = g.name ?? g.type;
      let gen: CandidateGenerator;
      switch (g.type) {
        case 'led':
          gen = new LedGenerator(gname, a.led, a.index);
          break;
        case 'itemknn':
          gen = new ItemKnnGenerator(gname, a.itemknn, g.lastN ?? 5);
          break;
        case 'popular':
          gen = new RankedListGenerator(gname, () => a.popularList);
          break;
        case 'fresh': {
          const maxAge = (g.maxAgeDays ?? 7) * 86_400_000;
          gen = new RankedListGenerator(gname, () => this.catalog.fresh(maxAge, this.now()));
          break;
        }
      }
      return { generator: gen, quota: g.quota, weight: g.weight };
    });
    const rules: RerankRule[] = [];
    if (scene.rules.length) {
      const cat = this.catalog;
      if (!cat.snapshot) throw new Error(`scene '${name}': re-ranking rules need a catalog with item metadata`);
      rules.push(new SceneRules(scene.rules, () => cat.snapshot!, (snap) => this.embedded(snap)));
    }
    rules.push(...(this.opts.rules?.(name, scene) ?? []));
    let scorer: Scorer | undefined;
    if (scene.scorer === 'ranker') {
      const rs = new RankerScorer(this.opts.ranker, this.opts.profiles, rankFusionFor(slots));
      if (rs.active) this.rankerScenes.add(name);
      scorer = rs;
    }
    return new Funnel({ generators: slots, rules, ...(scorer ? { scorer } : {}) });
  }

  private readonly embeddedCache = new WeakMap<ItemCatalog, ItemCatalog>();
  /** Scenes whose scorer is an active ranker (they need the user's dense index). */
  private readonly rankerScenes = new Set<string>();

  /** The snapshot with LED's item vectors as its embeddings (for MMR), one copy per snapshot. */
  private embedded(snap: ItemCatalog): ItemCatalog {
    let c = this.embeddedCache.get(snap);
    if (!c) {
      const { vectors, dim } = this.artifact.led.itemVectors();
      c = withEmbeddings(snap, catalogEmbeddings(snap.size, dim, vectors));
      this.embeddedCache.set(snap, c);
    }
    return c;
  }

  /** Item index for an id; throws UnknownItemError. */
  itemIndex(id: string): number {
    const i = this.catalog.index(id);
    if (i < 0) throw new UnknownItemError(id);
    return i;
  }

  async recommend(req: RecommendRequest): Promise<RecommendResponse> {
    const t0 = performance.now();
    const sceneName = req.scene ?? (this.funnels.has('default') ? 'default' : this.funnels.keys().next().value!);
    const funnel = this.funnels.get(sceneName);
    if (!funnel) throw new UnknownSceneError(sceneName, [...this.funnels.keys()]);
    const scene = this.config.scenes[sceneName];
    const k = Math.min(req.k ?? scene.k, this.opts.maxK ?? 1000);
    const now = this.now();
    const exclude = new Set<number>();
    let history: Int32Array;
    if (req.history) {
      history = Int32Array.from(req.history.map((id) => this.catalog.index(id)).filter((i) => i >= 0));
    } else if (req.userId) {
      // Re-read while the store has no dislike type (SQLite stores create it at open, with the
      // partial index their dislike reads use; cheap: types are reloaded only after writes
      // elsewhere), so the first dislike ever stored takes effect without a restart.
      if (this.dislikeCode < 0) this.dislikeCode = await this.store.eventTypeCode('dislike');
      const reads: TimelineOptions[] = [{ types: this.historyTypes, limit: scene.historyLength }];
      if (this.dislikeCode >= 0) reads.push({ types: ['dislike'], limit: 1000 });
      // The history and the dislikes from one snapshot, where the store can.
      const userId = req.userId;
      const store = this.store;
      const [h, dis] = store.historyItems
        ? await store.historyItems(userId, reads)
        : (store.histories ? await store.histories(userId, reads) : await Promise.all(reads.map((o) => store.history(userId, o)))).map((x) => x.itemIdx);
      history = h;
      if (dis) for (const i of dis) exclude.add(i);
    } else history = new Int32Array(0);
    const tHist = performance.now();
    if (req.excludeSeen !== false) for (const i of history) exclude.add(i);
    for (const id of req.exclude ?? []) {
      const i = this.catalog.index(id);
      if (i >= 0) exclude.add(i);
    }
    const sessionKey = req.session ? `${req.userId ?? ''}\u0000${sceneName}\u0000${req.session}` : undefined;
    if (sessionKey && (req.page ?? 1) > 1) for (const i of this.sessions.get(sessionKey, now) ?? []) exclude.add(i);
    const f = req.filters ?? {};
    const cats = f.categories?.length ? f.categories : undefined;
    const availableOnly = f.availableOnly !== false;
    const cat = this.catalog;
    // Availability as the catalogue's byte mask (checked by the generators in tight loops); a
    // predicate only for what a byte cannot say: price, categories, or every known item.
    const priced = f.minPrice !== undefined || f.maxPrice !== undefined;
    const mask = availableOnly && cat.servableMask ? cat.servableMask() : undefined;
    const allow =
      !mask || priced || cats
        ? (item: number): boolean => {
            if (item >= cat.size) return false;
            if (!mask && (availableOnly ? !cat.servable(item) : cat.id(item) === undefined)) return false;
            if (priced) {
              const p = cat.price(item);
              if (Number.isNaN(p) || (f.minPrice !== undefined && p < f.minPrice) || (f.maxPrice !== undefined && p > f.maxPrice)) return false;
            }
            if (cats && !cats.some((c) => cat.hasCategory(item, c))) return false;
            return true;
          }
        : undefined;
    const ctx: RequestContext = { history, k, scene: sceneName, now, exclude, ...(allow ? { allow } : {}), ...(mask ? { mask } : {}), debug: Boolean(req.debug), ...(req.userId ? { userId: req.userId } : {}) };
    // The ranker reads the user's profile by dense index (unknown users: -1, population features only).
    if (req.userId && this.rankerScenes.has(sceneName)) ctx.userIdx = await this.store.userIndex(req.userId);
    const result = await funnel.recommend(ctx);
    const tFunnel = performance.now();
    const requestId = newRequestId(now);
    const items: RecommendedItem[] = result.items.map((s) => {
      const out: RecommendedItem = { id: cat.id(s.item) ?? String(s.item), score: s.score, sources: s.sources.map((p) => p.generator) };
      if (req.debug) out.debug = { sources: s.sources, trace: s.trace ?? [] };
      return out;
    });
    if (sessionKey) this.sessions.add(sessionKey, result.items.map((s) => s.item), now);
    if (req.userId && this.opts.logImpressions !== false && items.length) {
      // Compact until written (typed arrays, one provenance block): held for up to flushMs, the
      // entries outlive the young generation.
      const served = new Int32Array(result.items.length);
      for (let p = 0; p < served.length; p++) served[p] = result.items[p].item;
      this.impressions.push({
        userId: req.userId, items: served, timestamp: now, requestId, scene: sceneName,
        provenance: encodeProvenance(result.items.map((s) => s.sources)),
        ...(this.store.appendServed ? {} : { itemIds: items.map((it) => it.id) }),
      });
    }
    const resp: RecommendResponse = { requestId, scene: sceneName, modelVersion: this.artifact.version, items };
    if (req.debug) {
      resp.debug = { candidates: result.candidates, historyLength: history.length, timings: { ...result.timings, history_ms: tHist - t0 } };
      const fx = ruleEffects(ctx);
      if (fx?.removed.length) resp.debug.removed = fx.removed.map((r) => ({ id: cat.id(r.item) ?? String(r.item), score: r.score, rank: r.rank, rule: r.rule, reason: r.reason }));
    }
    if (servingProfile.enabled) {
      const tm = result.timings;
      const p = servingProfile;
      p.add('history', tHist - t0);
      p.add('generators', tm.generate_ms);
      p.add('merge', tm.merge_ms);
      p.add('score', tm.score_ms);
      p.add('rules', tm.rerank_ms);
      const tEnd = performance.now();
      p.add('respond', tEnd - tFunnel);
      p.add('total', tEnd - t0);
    }
    return resp;
  }

  /** Items similar to one item (LED embedding cosine, falling back to item-kNN). */
  similar(itemId: string, k: number, filters: RecommendFilters = {}): { items: { id: string; score: number }[] } {
    const i = this.itemIndex(itemId);
    const a = this.artifact;
    const knownToLed = i < a.led.numItems && a.led.knownItems()[i] === 1;
    const rec = knownToLed ? a.led.similarItems(i, k * 4 + 10) : i < a.itemknn.numItems ? a.itemknn.similarItems(i, k * 4 + 10) : { items: new Int32Array(0), scores: new Float32Array(0) };
    const out: { id: string; score: number }[] = [];
    for (let p = 0; p < rec.items.length && out.length < k; p++) {
      const j = rec.items[p];
      if (filters.availableOnly !== false && !this.catalog.servable(j)) continue;
      if (filters.categories?.length && !filters.categories.some((c) => this.catalog.hasCategory(j, c))) continue;
      out.push({ id: this.catalog.id(j)!, score: rec.scores[p] });
    }
    return { items: out };
  }

  async flush(): Promise<void> {
    await this.impressions.flush();
  }
}
