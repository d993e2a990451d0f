/**
 * `funnel synth`: a seeded generator of realistic synthetic users, items and events whose
 * ground truth is known (item and user latent vectors, the click model), for the quick start,
 * the tests and the scale benchmarks. From a few thousand events up to 1M items and 100M events:
 * events are produced in timestamp order by a streaming simulation in memory that depends on
 * the number of items and users (typed arrays), never on the number of events.
 *
 * ## Files (`writeSynth`), the columns the `funnel` import preset reads
 *
 * CSV (RFC 4180: a header line, ',' separated, '\n' line ends; a field holding ',', '"', '\r'
 * or '\n' is wrapped in '"' with inner quotes doubled; an empty field means "absent"):
 *
 *   users.csv   user_id,country,device,age_bucket
 *                 u<index>, ISO country code, mobile|desktop|tablet, 18-24|25-34|35-44|45-54|55-64|65+
 *   items.csv   item_id,title,categories,tags,price,available,created_at,text,image_url
 *                 i<index>, title (may hold ',' and '"'), categories and tags '|'-joined (primary
 *                 category first), price (2 decimals), available true|false, created_at epoch
 *                 milliseconds, text (a description; some hold a line break), image_url
 *   events.csv  event_id,user_id,item_id,type,value,timestamp,scene,position,request_id,device
 *                 e<seq> (0, 1, 2... in file order), u<index>, i<index>, type (impression, view,
 *                 click, add_to_cart, purchase, rating, dwell), value (rating 1..5, dwell seconds
 *                 with one decimal, purchase amount = the item's price; else empty), timestamp
 *                 epoch ms (non-decreasing down the file), scene (home|detail|search; empty for
 *                 organic views and ratings), position (0-based slot in the request's list),
 *                 request_id r<seq> (the recommendation request that showed the item; empty for
 *                 organic views and ratings), device (mobile|desktop|tablet)
 *
 * JSON Lines (`format: 'jsonl'`, files users.jsonl, items.jsonl, events.jsonl): one object per
 * line with the same snake_case keys; absent fields are left out, categories and tags are arrays,
 * available a boolean, numbers are numbers.
 *
 * Ground truth: truth.json (options, click-model formulas and parameters, categories with their
 * centroids, counts) and little-endian float32 matrices item_factors.f32 (items × latentDim,
 * row-major), item_quality.f32 (items) and, up to 2M users, user_factors.f32 (users × latentDim).
 *
 * ## The world
 *
 * - Categories: `categories` of them with power-law sizes (each item's primary category is drawn
 *   from Zipf(categoryZipf) over a shuffled order; every category has an item); 20% of items
 *   have a second category. Each category has a unit centroid in R^latentDim, a median price
 *   (log-normal around 30) and a handful of tags.
 * - Items: popularity weight 1/rank^itemZipf over a random rank order (the exposure the logging
 *   system gives them); vector v_i = normalize(c_primary + 0.5·c_second + itemNoise·g/√d), g ~
 *   N(0, I); quality q_i ~ N(0, qualitySd²); price = category median · exp(0.5·N(0,1)), as x.99;
 *   available with probability `availableShare` (a snapshot flag: history still shows the rest);
 *   created a uniform time in the year before `start`, or (with probability `newItemShare`)
 *   uniformly within the span. No event names an item before its creation.
 * - Users: country, device, age bucket; 1..tastesPerUser tastes (categories drawn by size) with
 *   Dirichlet(1) weights; vector u = normalize(Σ w_t·c_t + userNoise·g/√d). Derived from a hash of
 *   (seed, user) so that they cost no memory: `synthUserVector(world, u)`. Activity (how often a
 *   user starts a session) is Zipf(userZipf) over a random order.
 *
 * ## Sessions and requests
 *
 * Sessions arrive as a Poisson process whose rate grows linearly over the span (×(1+growth) at
 * the end) and follows a daily cycle (×(1 + diurnal·cos(2π(hourUTC − 20)/24))); the rate is set so
 * the expected number of events matches `events` (measured by a pilot simulation). A session is
 * a user (not one already in a session, when possible), a device (the user's, 85%), and
 * 1 + Geometric requests (mean `requestsPerSession`). With probability `funnel.directView` it
 * opens with an organic `view` of an item drawn from the user's tastes, and its first request is
 * then a 'detail' request for that item. Each request shows up to `impressionsPerRequest`
 * distinct items, each drawn independently by the scene:
 *   home   — from one of the user's tastes (picked by weight) with probability tasteShare, else
 *            by global popularity;
 *   detail — from the anchor item's primary category with probability 0.6, else as home;
 *   search — from the query category (one of the user's tastes, 80%, else a category by size)
 *            with probability 0.9, else by global popularity;
 * always by popularity within the chosen set (alias tables), redrawing items already shown or
 * not created yet. The logging policy orders them by affinity + policyNoise·N(0,1) (or keeps the
 * draw order, i.e. random, with loggingPolicy 'random'). After a request, the next is 'detail'
 * on the last clicked item (70% when something was clicked), else 'search' (30%) or 'home'.
 *
 * ## The click model (exact)
 *
 *   affinity(u, i)     a = ⟨u, v_i⟩  (unit vectors, so a ∈ [−1, 1])
 *   examination(p)     e(p) = (1 + p)^(−eta)           p = 0-based position
 *   attractiveness     α(u, i) = σ(scale·a + bias + q_i)  σ(x) = 1/(1 + e^(−x))
 *   P(click)           e(p) · α(u, i), independently per shown item
 *   P(add_to_cart | click)  σ(cartBias + cartAffinity·a − priceSensitivity·ln(price/median_c))
 *   P(purchase | cart)      σ(buyBias + buyAffinity·a − priceSensitivity·ln(price/median_c))
 *   P(dwell event | click)  dwellProb; the user stays D = clamp(exp(ln dwellMedian +
 *                           dwellAffinity·a + dwellSd·N(0,1)), 1, 3600) seconds on the page either way
 *   P(rating | purchase)    ratingProb; rating = clamp(round(3 + ratingAffinity·a + ratingSd·N), 1, 5)
 *
 * median_c is the item's primary category's median price. Times: impressions at the request
 * time t; the user scans the list in order, each click 1 s + Exp(3 s) after the previous action,
 * the dwell event at click + D, add_to_cart at click + U(0.2, 0.9)·D, the next click after
 * click + D; purchase at cart + 30 s + Exp(5 min); rating at purchase + Exp(2 days); the next
 * request 2 s + Exp(requestGapSeconds) after the last page left. Events at or after the end of the
 * span are dropped. Clicks, dwells, add_to_cart and purchase carry the request's request_id,
 * scene and position (attribution); organic views and ratings carry neither.
 */
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Event, Item, User } from './model.js';
import type { Progress } from '../util/progress.js';

// ---- options ------------------------------------------------------------------------------------

export interface SynthClickModel {
  /** Examination decay: e(p) = (1 + p)^-eta. */
  eta: number;
  /** Weight of the affinity in the attractiveness logit. */
  scale: number;
  /** Intercept of the attractiveness logit. */
  bias: number;
  /** Standard deviation of the item quality term q_i. */
  qualitySd: number;
}

export interface SynthFunnelParams {
  cartBias: number;
  cartAffinity: number;
  buyBias: number;
  buyAffinity: number;
  /** Both conversion logits lose priceSensitivity·ln(price / category median). */
  priceSensitivity: number;
  dwellProb: number;
  dwellMedian: number;
  dwellAffinity: number;
  dwellSd: number;
  ratingProb: number;
  ratingAffinity: number;
  ratingSd: number;
  /** Probability that a session opens with an organic view (then a 'detail' request). */
  directView: number;
}

export interface SynthOptions {
  seed: number;
  users: number;
  items: number;
  /** Target number of events (the result is within a few percent). */
  events: number;
  categories: number;
  latentDim: number;
  /** Each user has 1..tastesPerUser tastes (uniform). */
  tastesPerUser: number;
  /** Span of the events, in days from `start`. */
  days: number;
  /** Start of the span, epoch ms. */
  start: number;
  impressionsPerRequest: number;
  /** Mean number of requests in a session (≥ 1). */
  requestsPerSession: number;
  /** Mean pause between leaving a page and the next request, seconds (plus 2 s). */
  requestGapSeconds: number;
  itemZipf: number;
  userZipf: number;
  categoryZipf: number;
  /** Share of items created within the span (the rest exist before it starts). */
  newItemShare: number;
  availableShare: number;
  /** Home requests: share of items drawn from the user's tastes (else by global popularity). */
  tasteShare: number;
  itemNoise: number;
  userNoise: number;
  /** 'affinity': shown in order of affinity + policyNoise·N(0,1); 'random': in draw order. */
  loggingPolicy: 'affinity' | 'random';
  policyNoise: number;
  /** Session rate at the end of the span is (1 + growth) times the rate at its start. */
  growth: number;
  /** Amplitude of the daily cycle of the session rate (0..1), peak at 20:00 UTC. */
  diurnal: number;
  click: SynthClickModel;
  funnel: SynthFunnelParams;
}

/** What callers pass: any subset; `resolveSynthOptions` fills the rest. */
export type SynthInput = Partial<Omit<SynthOptions, 'click' | 'funnel'>> & {
  click?: Partial<SynthClickModel>;
  funnel?: Partial<SynthFunnelParams>;
};

export const DEFAULT_CLICK_MODEL: SynthClickModel = { eta: 0.7, scale: 4, bias: -4, qualitySd: 0.5 };

export const DEFAULT_FUNNEL: SynthFunnelParams = {
  cartBias: -2.5,
  cartAffinity: 2,
  buyBias: -0.5,
  buyAffinity: 1.5,
  priceSensitivity: 0.5,
  dwellProb: 0.8,
  dwellMedian: 30,
  dwellAffinity: 1,
  dwellSd: 0.7,
  ratingProb: 0.3,
  ratingAffinity: 2.5,
  ratingSd: 0.8,
  directView: 0.3,
};

const DAY = 86_400_000;

/** Defaults: a small world (1,000 users, 2,000 items, ~50K events over 30 days). */
export function resolveSynthOptions(input: SynthInput = {}): SynthOptions {
  const items = Math.trunc(input.items ?? 2000);
  const o: SynthOptions = {
    seed: Math.trunc(input.seed ?? 1),
    users: Math.trunc(input.users ?? 1000),
    items,
    events: Math.trunc(input.events ?? 50_000),
    categories: Math.trunc(input.categories ?? Math.min(items, Math.max(4, Math.min(1000, Math.round(Math.sqrt(items) / 2))))),
    latentDim: Math.trunc(input.latentDim ?? 16),
    tastesPerUser: Math.trunc(input.tastesPerUser ?? 3),
    days: input.days ?? 30,
    start: input.start ?? Date.UTC(2024, 0, 1),
    impressionsPerRequest: Math.trunc(input.impressionsPerRequest ?? 10),
    requestsPerSession: input.requestsPerSession ?? 4,
    requestGapSeconds: input.requestGapSeconds ?? 20,
    itemZipf: input.itemZipf ?? 1,
    userZipf: input.userZipf ?? 0.6,
    categoryZipf: input.categoryZipf ?? 1,
    newItemShare: input.newItemShare ?? 0.3,
    availableShare: input.availableShare ?? 0.95,
    tasteShare: input.tasteShare ?? 0.7,
    itemNoise: input.itemNoise ?? 0.6,
    userNoise: input.userNoise ?? 0.5,
    loggingPolicy: input.loggingPolicy ?? 'affinity',
    policyNoise: input.policyNoise ?? 0.5,
    growth: input.growth ?? 0.5,
    diurnal: input.diurnal ?? 0.5,
    click: { ...DEFAULT_CLICK_MODEL, ...input.click },
    funnel: { ...DEFAULT_FUNNEL, ...input.funnel },
  };
  const bad = (what: string) => {
    throw new Error(`synth: ${what}`);
  };
  if (!(o.users >= 1)) bad(`users must be ≥ 1, got ${o.users}`);
  if (!(o.items >= 1)) bad(`items must be ≥ 1, got ${o.items}`);
  if (o.items > 50_000_000) bad(`items must be ≤ 50M, got ${o.items}`);
  if (o.users > 200_000_000) bad(`users must be ≤ 200M, got ${o.users}`);
  if (!(o.events >= 0)) bad(`events must be ≥ 0, got ${o.events}`);
  if (!(o.categories >= 1) || o.categories > o.items) bad(`categories must be in 1..items, got ${o.categories}`);
  if (!(o.latentDim >= 1 && o.latentDim <= 1024)) bad(`latentDim must be in 1..1024, got ${o.latentDim}`);
  if (!(o.tastesPerUser >= 1)) bad(`tastesPerUser must be ≥ 1, got ${o.tastesPerUser}`);
  if (!(o.days > 0)) bad(`days must be > 0, got ${o.days}`);
  if (!Number.isFinite(o.start) || o.start < 0) bad(`start must be epoch ms ≥ 0, got ${o.start}`);
  if (!(o.impressionsPerRequest >= 1 && o.impressionsPerRequest <= 1000)) bad(`impressionsPerRequest must be in 1..1000, got ${o.impressionsPerRequest}`);
  if (!(o.requestsPerSession >= 1)) bad(`requestsPerSession must be ≥ 1, got ${o.requestsPerSession}`);
  for (const k of ['newItemShare', 'availableShare', 'tasteShare', 'diurnal'] as const) if (!(o[k] >= 0 && o[k] <= 1)) bad(`${k} must be in [0, 1], got ${o[k]}`);
  if (o.loggingPolicy !== 'affinity' && o.loggingPolicy !== 'random') bad(`loggingPolicy must be 'affinity' or 'random'`);
  return o;
}

// ---- random numbers -----------------------------------------------------------------------------

function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit hash of (seed, stream, index), for per-entity random streams. */
function hash3(seed: number, stream: number, index: number): number {
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(stream + 1, 0x27d4eb2f));
  h = mix32(h ^ (index >>> 0));
  return mix32(h ^ Math.floor(index / 4294967296));
}

/** xoshiro128** (period 2^128 − 1): enough for billions of draws. Seeded from a 32-bit value. */
export class SynthRng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare = NaN;
  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      return mix32(s) | 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }
  /** Uniform in [0, 1). */
  next(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return (r >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const sp = this.spare;
    if (sp === sp) {
      this.spare = NaN;
      return sp;
    }
    let u = this.next();
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
  /** Exponential with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const STREAM_WORLD = 1;
const STREAM_USER_ATTR = 2;
const STREAM_USER_TASTE = 3;
const STREAM_ITEM_TEXT = 4;
const STREAM_EVENTS = 5;
const STREAM_PILOT = 6;

// ---- alias tables -------------------------------------------------------------------------------

/** Vose's alias method over `n` weights: one uniform draw per sample. */
interface Alias {
  prob: Float64Array;
  alias: Int32Array;
}

function buildAlias(w: ArrayLike<number>, from = 0, to = w.length): Alias {
  const n = to - from;
  const prob = new Float64Array(n);
  const alias = new Int32Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += w[from + i];
  if (!(sum > 0)) {
    prob.fill(1);
    for (let i = 0; i < n; i++) alias[i] = i;
    return { prob, alias };
  }
  const small = new Int32Array(n);
  const large = new Int32Array(n);
  let ns = 0;
  let nl = 0;
  for (let i = 0; i < n; i++) {
    prob[i] = (w[from + i] * n) / sum;
    if (prob[i] < 1) small[ns++] = i;
    else large[nl++] = i;
  }
  while (ns > 0 && nl > 0) {
    const s = small[--ns];
    const l = large[nl - 1];
    alias[s] = l;
    prob[l] = prob[l] + prob[s] - 1;
    if (prob[l] < 1) {
      nl--;
      small[ns++] = l;
    }
  }
  while (nl > 0) {
    const l = large[--nl];
    prob[l] = 1;
    alias[l] = l;
  }
  while (ns > 0) {
    const s = small[--ns];
    prob[s] = 1;
    alias[s] = s;
  }
  return { prob, alias };
}

function drawAlias(a: Alias, r: number, off = 0, n = a.prob.length): number {
  const x = r * n;
  const k = Math.floor(x);
  return x - k < a.prob[off + k] ? k : a.alias[off + k];
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

// ---- vocabulary ---------------------------------------------------------------------------------

const CATEGORY_WORDS = [
  'books', 'garden', 'kitchen', 'toys', 'sports', 'music', 'electronics', 'beauty', 'fashion', 'shoes',
  'outdoor', 'office', 'pets', 'baby', 'home', 'tools', 'automotive', 'games', 'movies', 'health',
  'jewelry', 'watches', 'bags', 'lighting', 'furniture', 'crafts', 'travel', 'grocery', 'coffee', 'tea',
  'camping', 'cycling', 'fitness', 'audio', 'photo', 'phones', 'computers', 'stationery', 'party', 'bath',
];
const BRANDS = ['Acme', 'Nordik', 'Lumo', 'Vanta', 'Orbit', 'Kiro', 'Pella', 'Zest', 'Halden', 'Mirra', 'Quill', 'Tandem', 'Brio', 'Solace', 'Fjord', 'Ember'];
const ADJECTIVES = ['Compact', 'Classic', 'Deluxe', 'Smart', 'Eco', 'Ultra', 'Mini', 'Soft', 'Rugged', 'Vintage', 'Modern', 'Light', 'Pro', 'Essential', 'Premium', 'Basic'];
const NOUNS = ['Lamp', 'Kettle', 'Backpack', 'Notebook', 'Speaker', 'Mug', 'Jacket', 'Chair', 'Bottle', 'Blender', 'Headphones', 'Candle', 'Watch', 'Tent', 'Puzzle', 'Camera', 'Pillow', 'Scarf', 'Pan', 'Drone'];
const COLORS = ['Blue', 'Red', 'Black', 'White', 'Green', 'Grey', 'Sand', 'Olive'];
const TAG_WORDS = [
  'bestseller', 'gift', 'handmade', 'organic', 'wireless', 'waterproof', 'portable', 'kids', 'classic', 'limited',
  'recycled', 'vegan', 'premium', 'budget', 'travel', 'outdoor', 'indoor', 'retro', 'minimal', 'smart',
  'durable', 'lightweight', 'family', 'seasonal', 'local', 'imported', 'new-arrival', 'trending', 'eco', 'compact',
];
const GLOBAL_TAGS = ['sale', 'new', 'free-shipping'];
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'IN', 'BR', 'JP', 'CA', 'ES', 'IT', 'NL', 'SE'];
const COUNTRY_W = [30, 10, 9, 8, 10, 7, 6, 5, 4, 4, 4, 3];
export const SYNTH_DEVICES = ['mobile', 'desktop', 'tablet'] as const;
const DEVICE_W = [55, 35, 10];
const AGE_BUCKETS = ['18-24', '25-34', '35-44', '45-54', '55-64', '65+'];
const AGE_W = [15, 28, 22, 16, 11, 8];

/** Event type codes of `SynthEventBatch.types`. */
export const SYNTH_EVENT_TYPES = ['impression', 'view', 'click', 'add_to_cart', 'purchase', 'rating', 'dwell'] as const;
export type SynthEventType = (typeof SYNTH_EVENT_TYPES)[number];
const T_IMPRESSION = 0;
const T_VIEW = 1;
const T_CLICK = 2;
const T_CART = 3;
const T_PURCHASE = 4;
const T_RATING = 5;
const T_DWELL = 6;
/** Scene codes of `SynthEventBatch.scenes` (NO_SCENE: none). */
export const SYNTH_SCENES = ['home', 'detail', 'search'] as const;
const S_HOME = 0;
const S_DETAIL = 1;
const S_SEARCH = 2;
export const NO_SCENE = 255;

function pickWeighted(r: number, w: readonly number[]): number {
  let sum = 0;
  for (const x of w) sum += x;
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i] / sum;
    if (r < acc) return i;
  }
  return w.length - 1;
}

// ---- the world ----------------------------------------------------------------------------------

/** Everything fixed before the first event: categories, items, samplers. Build once, reuse. */
export interface SynthWorld {
  readonly opts: SynthOptions;
  /** The span: [start, end) epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly categoryNames: string[];
  readonly categoryTags: string[][];
  /** Items per category (primary category). */
  readonly categorySize: Int32Array;
  readonly categoryMedianPrice: Float64Array;
  /** categories × latentDim, unit rows. */
  readonly categoryCentroids: Float32Array;
  readonly itemCategory: Int32Array;
  /** Second category or -1. */
  readonly itemCategory2: Int32Array;
  readonly itemPrice: Float64Array;
  readonly itemCreatedAt: Float64Array;
  readonly itemAvailable: Uint8Array;
  /** q_i of the click model. */
  readonly itemQuality: Float32Array;
  /** items × latentDim, unit rows. */
  readonly itemVectors: Float32Array;
  /** Exposure weights (sum 1): the share of popularity draws each item gets. */
  readonly itemPopularity: Float64Array;
  /** @internal samplers */
  readonly samplers: {
    global: Alias;
    /** Items by primary category: catItems[catOffset[c] .. catOffset[c+1]) with a local alias table at the same offsets. */
    catOffset: Int32Array;
    catItems: Int32Array;
    catAlias: Alias;
    /** Categories by size. */
    categories: Alias;
    users: Alias;
    /** An item that exists before the span starts (fallback). */
    oldest: number;
  };
}

export function buildSynthWorld(input: SynthInput | SynthOptions = {}): SynthWorld {
  const o = resolveSynthOptions(input);
  const rng = new SynthRng(hash3(o.seed, STREAM_WORLD, 0));
  const { items: N, categories: C, latentDim: d } = o;
  const start = o.start;
  const end = o.start + Math.round(o.days * DAY);

  // Categories: names, centroids, median prices, tags.
  const categoryNames: string[] = [];
  for (let c = 0; c < C; c++) {
    const w = CATEGORY_WORDS[c % CATEGORY_WORDS.length];
    categoryNames.push(c < CATEGORY_WORDS.length ? w : `${w}-${Math.floor(c / CATEGORY_WORDS.length) + 1}`);
  }
  const categoryCentroids = new Float32Array(C * d);
  for (let c = 0; c < C; c++) randomUnit(rng, categoryCentroids, c * d, d);
  const categoryMedianPrice = new Float64Array(C);
  for (let c = 0; c < C; c++) categoryMedianPrice[c] = Math.max(2, Math.exp(Math.log(30) + rng.normal()));
  const categoryTags: string[][] = [];
  for (let c = 0; c < C; c++) {
    const tags = new Set<string>();
    while (tags.size < 6) tags.add(TAG_WORDS[rng.int(TAG_WORDS.length)]);
    categoryTags.push([...tags]);
  }

  // Category of each item: Zipf sizes over a shuffled category order, every category non-empty.
  const catRank = shuffled(rng, C);
  const catW = new Float64Array(C);
  for (let c = 0; c < C; c++) catW[c] = 1 / Math.pow(catRank[c] + 1, o.categoryZipf);
  const catDraw = buildAlias(catW);
  const itemOrder = shuffled(rng, N);
  const itemCategory = new Int32Array(N);
  const itemCategory2 = new Int32Array(N).fill(-1);
  for (let r = 0; r < N; r++) itemCategory[itemOrder[r]] = r < C ? r : drawAlias(catDraw, rng.next());
  if (C > 1) {
    for (let i = 0; i < N; i++) {
      if (rng.next() < 0.2) {
        let c2 = drawAlias(catDraw, rng.next());
        if (c2 === itemCategory[i]) c2 = (c2 + 1 + rng.int(C - 1)) % C;
        itemCategory2[i] = c2;
      }
    }
  }
  const categorySize = new Int32Array(C);
  for (let i = 0; i < N; i++) categorySize[itemCategory[i]]++;

  // Items: popularity, vectors, quality, price, availability, creation time.
  const popRank = shuffled(rng, N);
  const itemPopularity = new Float64Array(N);
  let popSum = 0;
  for (let i = 0; i < N; i++) popSum += itemPopularity[i] = 1 / Math.pow(popRank[i] + 1, o.itemZipf);
  for (let i = 0; i < N; i++) itemPopularity[i] /= popSum;
  const itemVectors = new Float32Array(N * d);
  const itemQuality = new Float32Array(N);
  const itemPrice = new Float64Array(N);
  const itemAvailable = new Uint8Array(N);
  const itemCreatedAt = new Float64Array(N);
  const noise = o.itemNoise / Math.sqrt(d);
  const spanMs = end - start;
  let oldest = 0;
  for (let i = 0; i < N; i++) {
    const c1 = itemCategory[i];
    const c2 = itemCategory2[i];
    const off = i * d;
    let norm = 0;
    for (let k = 0; k < d; k++) {
      let x = categoryCentroids[c1 * d + k] + noise * rng.normal();
      if (c2 >= 0) x += 0.5 * categoryCentroids[c2 * d + k];
      itemVectors[off + k] = x;
      norm += x * x;
    }
    norm = 1 / Math.sqrt(norm || 1);
    for (let k = 0; k < d; k++) itemVectors[off + k] *= norm;
    itemQuality[i] = o.click.qualitySd * rng.normal();
    itemPrice[i] = Math.max(1, Math.round(categoryMedianPrice[c1] * Math.exp(0.5 * rng.normal()))) - 0.01;
    itemAvailable[i] = rng.next() < o.availableShare ? 1 : 0;
    itemCreatedAt[i] = rng.next() < o.newItemShare ? start + Math.floor(rng.next() * spanMs) : start - 1 - Math.floor(rng.next() * 365 * DAY);
    if (itemCreatedAt[i] < start && (itemCreatedAt[oldest] >= start || itemPopularity[i] > itemPopularity[oldest])) oldest = i;
    else if (itemCreatedAt[oldest] >= start && itemCreatedAt[i] < itemCreatedAt[oldest]) oldest = i;
  }

  // Samplers.
  const catOffset = new Int32Array(C + 1);
  for (let c = 0; c < C; c++) catOffset[c + 1] = catOffset[c] + categorySize[c];
  const fill = catOffset.slice(0, C);
  const catItems = new Int32Array(N);
  for (let i = 0; i < N; i++) catItems[fill[itemCategory[i]]++] = i;
  const catProb = new Float64Array(N);
  const catAliasIdx = new Int32Array(N);
  const w = new Float64Array(N);
  for (let q = 0; q < N; q++) w[q] = itemPopularity[catItems[q]];
  for (let c = 0; c < C; c++) {
    const a = buildAlias(w, catOffset[c], catOffset[c + 1]);
    catProb.set(a.prob, catOffset[c]);
    catAliasIdx.set(a.alias, catOffset[c]);
  }
  const sizeW = new Float64Array(C);
  for (let c = 0; c < C; c++) sizeW[c] = categorySize[c];
  const userRank = shuffled(rng, o.users);
  const userW = new Float64Array(o.users);
  for (let u = 0; u < o.users; u++) userW[u] = 1 / Math.pow(userRank[u] + 1, o.userZipf);

  return {
    opts: o,
    start,
    end,
    categoryNames,
    categoryTags,
    categorySize,
    categoryMedianPrice,
    categoryCentroids,
    itemCategory,
    itemCategory2,
    itemPrice,
    itemCreatedAt,
    itemAvailable,
    itemQuality,
    itemVectors,
    itemPopularity,
    samplers: {
      global: buildAlias(itemPopularity),
      catOffset,
      catItems,
      catAlias: { prob: catProb, alias: catAliasIdx },
      categories: buildAlias(sizeW),
      users: buildAlias(userW),
      oldest,
    },
  };
}

function shuffled(rng: SynthRng, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

function randomUnit(rng: SynthRng, out: Float32Array, off: number, d: number): void {
  let norm = 0;
  for (let k = 0; k < d; k++) {
    const x = rng.normal();
    out[off + k] = x;
    norm += x * x;
  }
  norm = 1 / Math.sqrt(norm || 1);
  for (let k = 0; k < d; k++) out[off + k] *= norm;
}

function asWorld(x: SynthWorld | SynthInput | undefined): SynthWorld {
  return x && 'samplers' in x ? (x as SynthWorld) : buildSynthWorld((x as SynthInput) ?? {});
}

// ---- users --------------------------------------------------------------------------------------

export interface SynthUserTastes {
  categories: number[];
  /** Dirichlet(1) weights, summing to 1. */
  weights: number[];
}

/** User u's tastes (deterministic in (seed, u)). */
export function synthUserTastes(world: SynthWorld, u: number): SynthUserTastes {
  const o = world.opts;
  const rng = new SynthRng(hash3(o.seed, STREAM_USER_TASTE, u));
  const n = 1 + rng.int(o.tastesPerUser);
  const categories: number[] = [];
  const weights: number[] = [];
  let sum = 0;
  for (let t = 0; t < n; t++) {
    categories.push(drawAlias(world.samplers.categories, rng.next()));
    const w = -Math.log(1 - rng.next()) + 1e-9;
    weights.push(w);
    sum += w;
  }
  for (let t = 0; t < n; t++) weights[t] /= sum;
  return { categories, weights };
}

/** User u's latent vector (unit norm): the ground truth behind affinity(u, i). */
export function synthUserVector(world: SynthWorld, u: number, out = new Float32Array(world.opts.latentDim), tastes = synthUserTastes(world, u)): Float32Array {
  const o = world.opts;
  const d = o.latentDim;
  const rng = new SynthRng(hash3(o.seed, STREAM_USER_TASTE, u) ^ 0x5bd1e995);
  const noise = o.userNoise / Math.sqrt(d);
  const cc = world.categoryCentroids;
  let norm = 0;
  for (let k = 0; k < d; k++) {
    let x = noise * rng.normal();
    for (let t = 0; t < tastes.categories.length; t++) x += tastes.weights[t] * cc[tastes.categories[t] * d + k];
    out[k] = x;
    norm += x * x;
  }
  norm = 1 / Math.sqrt(norm || 1);
  for (let k = 0; k < d; k++) out[k] *= norm;
  return out;
}

export interface SynthUserAttributes {
  country: string;
  device: (typeof SYNTH_DEVICES)[number];
  age_bucket: string;
}

function userAttrCodes(seed: number, u: number): [number, number, number] {
  const rng = new SynthRng(hash3(seed, STREAM_USER_ATTR, u));
  return [pickWeighted(rng.next(), COUNTRY_W), pickWeighted(rng.next(), DEVICE_W), pickWeighted(rng.next(), AGE_W)];
}

export function synthUserAttributes(world: SynthWorld, u: number): SynthUserAttributes {
  const [c, dv, a] = userAttrCodes(world.opts.seed, u);
  return { country: COUNTRIES[c], device: SYNTH_DEVICES[dv], age_bucket: AGE_BUCKETS[a] };
}

export const userId = (u: number): string => `u${u}`;
export const itemId = (i: number): string => `i${i}`;

/** The users, in index order: id `u<index>`, attributes {country, device, age_bucket}. */
export function* synthUsers(x?: SynthWorld | SynthInput): Generator<User> {
  const world = asWorld(x);
  for (let u = 0; u < world.opts.users; u++) yield { id: userId(u), attributes: { ...synthUserAttributes(world, u) } };
}

// ---- items --------------------------------------------------------------------------------------

/** Item i as the catalogue shows it (texts derived from a hash of (seed, i)). */
export function synthItem(world: SynthWorld, i: number): Item {
  const rng = new SynthRng(hash3(world.opts.seed, STREAM_ITEM_TEXT, i));
  const c1 = world.itemCategory[i];
  const c2 = world.itemCategory2[i];
  const brand = BRANDS[rng.int(BRANDS.length)];
  const adj = ADJECTIVES[rng.int(ADJECTIVES.length)];
  const noun = NOUNS[rng.int(NOUNS.length)];
  const r = rng.next();
  let title = `${brand} ${adj} ${noun}`;
  if (r < 0.3) title += `, ${COLORS[rng.int(COLORS.length)]}`;
  else if (r < 0.4) title = `${brand} "${adj}" ${noun}`;
  const categories = c2 >= 0 ? [world.categoryNames[c1], world.categoryNames[c2]] : [world.categoryNames[c1]];
  const ct = world.categoryTags[c1];
  const tags = new Set<string>();
  const nt = 1 + rng.int(3);
  for (let t = 0; t < nt; t++) tags.add(ct[rng.int(ct.length)]);
  if (rng.next() < 0.1) tags.add(GLOBAL_TAGS[rng.int(GLOBAL_TAGS.length)]);
  let text = `${title}. ${/^[AEIOU]/.test(adj) ? 'An' : 'A'} ${adj.toLowerCase()} ${noun.toLowerCase()} by ${brand} for ${categories.join(' and ')}; ${[...tags].join(', ')}.`;
  if (rng.next() < 0.05) text += `\nCare: wipe clean, "do not" machine wash.`;
  return {
    id: itemId(i),
    title,
    categories,
    tags: [...tags],
    price: world.itemPrice[i],
    available: world.itemAvailable[i] === 1,
    createdAt: world.itemCreatedAt[i],
    text,
    imageUrl: `https://img.example.com/items/${i}.jpg`,
  };
}

/** The items, in index order: id `i<index>`. */
export function* synthItems(x?: SynthWorld | SynthInput): Generator<Item> {
  const world = asWorld(x);
  for (let i = 0; i < world.opts.items; i++) yield synthItem(world, i);
}

// ---- the click model (ground truth) -------------------------------------------------------------

export function examination(model: SynthClickModel, position: number): number {
  return Math.pow(1 + position, -model.eta);
}

export function affinity(world: SynthWorld, userVector: Float32Array, item: number): number {
  const d = world.opts.latentDim;
  const v = world.itemVectors;
  const off = item * d;
  let s = 0;
  for (let k = 0; k < d; k++) s += userVector[k] * v[off + k];
  return s;
}

/** σ(scale·a + bias + q_i): the probability of a click once examined. */
export function attractiveness(world: SynthWorld, userVector: Float32Array, item: number): number {
  const m = world.opts.click;
  return sigmoid(m.scale * affinity(world, userVector, item) + m.bias + world.itemQuality[item]);
}

/** P(click | item shown at `position` to the user with `userVector`) under the generator's model. */
export function clickProbability(world: SynthWorld, userVector: Float32Array, item: number, position: number): number {
  return examination(world.opts.click, position) * attractiveness(world, userVector, item);
}

/** P(add_to_cart | click) and P(purchase | add_to_cart). */
export function conversionProbabilities(world: SynthWorld, userVector: Float32Array, item: number): { cart: number; purchase: number } {
  const f = world.opts.funnel;
  const a = affinity(world, userVector, item);
  const lp = Math.log(world.itemPrice[item] / world.categoryMedianPrice[world.itemCategory[item]]);
  return {
    cart: sigmoid(f.cartBias + f.cartAffinity * a - f.priceSensitivity * lp),
    purchase: sigmoid(f.buyBias + f.buyAffinity * a - f.priceSensitivity * lp),
  };
}

/** The small, JSON-able part of the ground truth (truth.json). Vectors: `world.itemVectors`, `synthUserVector`. */
export interface SynthTruth {
  generator: 'funnel-synth';
  version: 1;
  options: SynthOptions;
  span: { start: number; end: number; startIso: string; endIso: string };
  formulas: Record<string, string>;
  clickModel: SynthClickModel;
  funnel: SynthFunnelParams;
  /** examination(p) for p = 0..impressionsPerRequest-1. */
  examination: number[];
  categories: { name: string; size: number; medianPrice: number; tags: string[]; centroid: number[] }[];
  files?: Record<string, string>;
  counts?: Record<string, number>;
}

export function synthTruth(x?: SynthWorld | SynthInput): SynthTruth {
  const w = asWorld(x);
  const o = w.opts;
  const d = o.latentDim;
  return {
    generator: 'funnel-synth',
    version: 1,
    options: o,
    span: { start: w.start, end: w.end, startIso: new Date(w.start).toISOString(), endIso: new Date(w.end).toISOString() },
    formulas: {
      affinity: 'a = dot(user_vector, item_vector)  (unit vectors)',
      examination: 'e(p) = (1 + p)^(-eta), p = 0-based position',
      attractiveness: 'alpha = sigmoid(scale * a + bias + quality[item])',
      click: 'P(click) = e(p) * alpha',
      add_to_cart: 'P(cart | click) = sigmoid(cartBias + cartAffinity * a - priceSensitivity * ln(price / categoryMedianPrice))',
      purchase: 'P(purchase | cart) = sigmoid(buyBias + buyAffinity * a - priceSensitivity * ln(price / categoryMedianPrice))',
      dwell: 'P(dwell event | click) = dwellProb; seconds = clamp(exp(ln(dwellMedian) + dwellAffinity * a + dwellSd * N(0,1)), 1, 3600)',
      rating: 'P(rating | purchase) = ratingProb; value = clamp(round(3 + ratingAffinity * a + ratingSd * N(0,1)), 1, 5)',
    },
    clickModel: { ...o.click },
    funnel: { ...o.funnel },
    examination: Array.from({ length: o.impressionsPerRequest }, (_, p) => examination(o.click, p)),
    categories: w.categoryNames.map((name, c) => ({
      name,
      size: w.categorySize[c],
      medianPrice: w.categoryMedianPrice[c],
      tags: w.categoryTags[c],
      centroid: Array.from(w.categoryCentroids.subarray(c * d, (c + 1) * d)),
    })),
  };
}

// ---- events -------------------------------------------------------------------------------------

/**
 * A batch of events in columns (struct of arrays). Row j is event `e${firstSeq + j}`. The
 * generator reuses the batch: read it before asking for the next one.
 */
export interface SynthEventBatch {
  length: number;
  firstSeq: number;
  users: Int32Array;
  items: Int32Array;
  /** Index into SYNTH_EVENT_TYPES. */
  types: Uint8Array;
  /** NaN: no value. */
  values: Float64Array;
  timestamps: Float64Array;
  /** Index into SYNTH_SCENES, NO_SCENE: none. */
  scenes: Uint8Array;
  /** -1: none. */
  positions: Int16Array;
  /** Request sequence number (request_id `r<n>`), -1: none. */
  requests: Float64Array;
  /** Index into SYNTH_DEVICES. */
  devices: Uint8Array;
}

function newBatch(cap: number): SynthEventBatch {
  return {
    length: 0,
    firstSeq: 0,
    users: new Int32Array(cap),
    items: new Int32Array(cap),
    types: new Uint8Array(cap),
    values: new Float64Array(cap),
    timestamps: new Float64Array(cap),
    scenes: new Uint8Array(cap),
    positions: new Int16Array(cap),
    requests: new Float64Array(cap),
    devices: new Uint8Array(cap),
  };
}

/** Lagged events waiting for the clock: a binary min-heap on (timestamp, insertion order) over a pool. */
class PendingEvents {
  size = 0;
  private cap = 1024;
  private ins = 0;
  private heap = new Int32Array(this.cap);
  private free: number[] = [];
  private used = 0;
  ts = new Float64Array(this.cap);
  order = new Float64Array(this.cap);
  user = new Int32Array(this.cap);
  item = new Int32Array(this.cap);
  type = new Uint8Array(this.cap);
  value = new Float64Array(this.cap);
  scene = new Uint8Array(this.cap);
  pos = new Int16Array(this.cap);
  req = new Float64Array(this.cap);
  device = new Uint8Array(this.cap);

  private grow(): void {
    const cap = this.cap * 2;
    const g = <T extends Float64Array | Int32Array | Uint8Array | Int16Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.heap = g(this.heap);
    this.ts = g(this.ts);
    this.order = g(this.order);
    this.user = g(this.user);
    this.item = g(this.item);
    this.type = g(this.type);
    this.value = g(this.value);
    this.scene = g(this.scene);
    this.pos = g(this.pos);
    this.req = g(this.req);
    this.device = g(this.device);
    this.cap = cap;
  }

  private less(a: number, b: number): boolean {
    const ta = this.ts[a];
    const tb = this.ts[b];
    return ta < tb || (ta === tb && this.order[a] < this.order[b]);
  }

  topTs(): number {
    return this.size > 0 ? this.ts[this.heap[0]] : Infinity;
  }

  push(ts: number, user: number, item: number, type: number, value: number, scene: number, pos: number, req: number, device: number): void {
    let k: number;
    if (this.free.length > 0) k = this.free.pop()!;
    else {
      if (this.used === this.cap) this.grow();
      k = this.used++;
    }
    this.ts[k] = ts;
    this.order[k] = this.ins++;
    this.user[k] = user;
    this.item[k] = item;
    this.type[k] = type;
    this.value[k] = value;
    this.scene[k] = scene;
    this.pos[k] = pos;
    this.req[k] = req;
    this.device[k] = device;
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(k, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = k;
  }

  /** Removes the earliest; returns its pool slot (valid until the next push). */
  pop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h[--this.size];
    let i = 0;
    const n = this.size;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1], h[c])) c++;
      if (!this.less(h[c], last)) break;
      h[i] = h[c];
      i = c;
    }
    if (n > 0) h[i] = last;
    this.free.push(top);
    return top;
  }
}

interface Session {
  next: number;
  order: number;
  user: number;
  device: number;
  vec: Float32Array;
  tasteCats: Int32Array;
  /** Cumulative taste weights. */
  tasteCum: Float64Array;
  left: number;
  scene: number;
  /** Anchor item (detail) or query category (search). */
  anchor: number;
}

class SessionHeap {
  private h: Session[] = [];
  get size(): number {
    return this.h.length;
  }
  top(): Session | undefined {
    return this.h[0];
  }
  private static less(a: Session, b: Session): boolean {
    return a.next < b.next || (a.next === b.next && a.order < b.order);
  }
  push(s: Session): void {
    const h = this.h;
    let i = h.length;
    h.push(s);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!SessionHeap.less(s, h[p])) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = s;
  }
  pop(): Session {
    const h = this.h;
    const top = h[0];
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && SessionHeap.less(h[c + 1], h[c])) c++;
        if (!SessionHeap.less(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

const BATCH = 65_536;

/**
 * The simulation. In `counting` mode (the pilot) nothing is emitted or timed: it only counts the
 * events each session would produce, to set the session rate.
 */
class Simulator {
  readonly w: SynthWorld;
  readonly o: SynthOptions;
  readonly rng: SynthRng;
  readonly pending = new PendingEvents();
  readonly sessions = new SessionHeap();
  batch: SynthEventBatch;
  counted = 0;
  requestSeq = 0;
  private sessionOrder = 0;
  private readonly busy: Float64Array;
  private readonly exam: Float64Array;
  private readonly K: number;
  private readonly candItem: Int32Array;
  private readonly candAff: Float64Array;
  private readonly candScore: Float64Array;
  private readonly idx: Int32Array;

  constructor(world: SynthWorld, seed: number, readonly counting: boolean) {
    this.w = world;
    this.o = world.opts;
    this.rng = new SynthRng(seed);
    this.batch = counting ? newBatch(1) : newBatch(BATCH + this.o.impressionsPerRequest + 8);
    this.busy = new Float64Array(this.o.users);
    this.K = Math.min(this.o.impressionsPerRequest, this.o.items);
    this.exam = new Float64Array(this.K);
    for (let p = 0; p < this.K; p++) this.exam[p] = examination(this.o.click, p);
    this.candItem = new Int32Array(this.K);
    this.candAff = new Float64Array(this.K);
    this.candScore = new Float64Array(this.K);
    this.idx = new Int32Array(this.K);
  }

  /** Emits an event now (its time is the clock's). */
  emit(ts: number, user: number, item: number, type: number, value: number, scene: number, pos: number, req: number, device: number): void {
    if (this.counting) {
      this.counted++;
      return;
    }
    const b = this.batch;
    const j = b.length++;
    b.users[j] = user;
    b.items[j] = item;
    b.types[j] = type;
    b.values[j] = value;
    b.timestamps[j] = ts;
    b.scenes[j] = scene;
    b.positions[j] = pos;
    b.requests[j] = req;
    b.devices[j] = device;
  }

  /** Schedules an event for later (dropped at or after the end of the span). */
  later(ts: number, user: number, item: number, type: number, value: number, scene: number, pos: number, req: number, device: number): void {
    if (this.counting) {
      this.counted++;
      return;
    }
    if (ts >= this.w.end) return;
    this.pending.push(ts, user, item, type, value, scene, pos, req, device);
  }

  emitPending(): void {
    const p = this.pending;
    const k = p.pop();
    this.emit(p.ts[k], p.user[k], p.item[k], p.type[k], p.value[k], p.scene[k], p.pos[k], p.req[k], p.device[k]);
  }

  /** An item of category c (by popularity), or -1. */
  private fromCategory(c: number): number {
    const s = this.w.samplers;
    const off = s.catOffset[c];
    const n = s.catOffset[c + 1] - off;
    if (n === 0) return -1;
    return s.catItems[off + drawAlias(s.catAlias, this.rng.next(), off, n)];
  }

  private fromTastes(s: Session): number {
    const r = this.rng.next();
    const cum = s.tasteCum;
    let t = 0;
    while (t < cum.length - 1 && r >= cum[t]) t++;
    return this.fromCategory(s.tasteCats[t]);
  }

  private candidate(s: Session, scene: number): number {
    const r = this.rng.next();
    const o = this.o;
    if (scene === S_DETAIL) {
      if (r < 0.6) return this.fromCategory(this.w.itemCategory[s.anchor]);
      return this.rng.next() < o.tasteShare ? this.fromTastes(s) : drawAlias(this.w.samplers.global, this.rng.next());
    }
    if (scene === S_SEARCH) return r < 0.9 ? this.fromCategory(s.anchor) : drawAlias(this.w.samplers.global, this.rng.next());
    return r < o.tasteShare ? this.fromTastes(s) : drawAlias(this.w.samplers.global, this.rng.next());
  }

  /** A new session for a user at time t (the caller schedules it). */
  newSession(t: number): Session {
    const o = this.o;
    const w = this.w;
    let user = drawAlias(w.samplers.users, this.rng.next());
    for (let tries = 0; tries < 8 && this.busy[user] > t; tries++) user = drawAlias(w.samplers.users, this.rng.next());
    this.busy[user] = Infinity;
    const tastes = synthUserTastes(w, user);
    const vec = synthUserVector(w, user, new Float32Array(o.latentDim), tastes);
    const cum = new Float64Array(tastes.weights.length);
    let acc = 0;
    for (let k = 0; k < cum.length; k++) cum[k] = acc += tastes.weights[k];
    cum[cum.length - 1] = 1;
    const userDevice = userAttrCodes(o.seed, user)[1];
    const device = this.rng.next() < 0.85 ? userDevice : this.rng.int(SYNTH_DEVICES.length);
    // requests: 1 + Geometric with mean requestsPerSession - 1
    let left = 1;
    const q = 1 - 1 / o.requestsPerSession;
    while (this.rng.next() < q && left < 1000) left++;
    const s: Session = {
      next: t,
      order: this.sessionOrder++,
      user,
      device,
      vec,
      tasteCats: Int32Array.from(tastes.categories),
      tasteCum: cum,
      left,
      scene: S_HOME,
      anchor: -1,
    };
    if (this.rng.next() < o.funnel.directView) {
      const item = this.existing(s, t, () => this.fromTastes(s));
      if (item >= 0) {
        this.emit(t, user, item, T_VIEW, NaN, NO_SCENE, -1, -1, device);
        s.scene = S_DETAIL;
        s.anchor = item;
        s.next = t + 500 + Math.round(this.rng.exp(1500));
      }
    }
    return s;
  }

  /** Draws with `draw` until an item created by t comes up (32 tries), else -1. */
  private existing(s: Session, t: number, draw: () => number): number {
    void s;
    const created = this.w.itemCreatedAt;
    for (let tries = 0; tries < 32; tries++) {
      const i = draw();
      if (i >= 0 && created[i] <= t) return i;
    }
    return -1;
  }

  /** Runs the session's next request at time t; returns false when the session is over. */
  request(s: Session, t: number): boolean {
    const o = this.o;
    const w = this.w;
    const f = o.funnel;
    const m = o.click;
    const rng = this.rng;
    const scene = s.scene;
    const created = w.itemCreatedAt;
    const K = this.K;
    const cand = this.candItem;
    const aff = this.candAff;
    const d = o.latentDim;
    const vecs = w.itemVectors;
    const uv = s.vec;
    // Draw K distinct existing items.
    let n = 0;
    for (let slot = 0; slot < K; slot++) {
      let item = -1;
      for (let tries = 0; tries < 32 && item < 0; tries++) {
        const i = this.candidate(s, scene);
        if (i < 0 || created[i] > t) continue;
        let dup = false;
        for (let q = 0; q < n; q++) if (cand[q] === i) dup = true;
        if (!dup) item = i;
      }
      if (item < 0) {
        const fb = w.samplers.oldest;
        let dup = false;
        for (let q = 0; q < n; q++) if (cand[q] === fb) dup = true;
        if (dup || created[fb] > t) continue;
        item = fb;
      }
      let a = 0;
      const off = item * d;
      for (let k = 0; k < d; k++) a += uv[k] * vecs[off + k];
      cand[n] = item;
      aff[n] = a;
      n++;
    }
    // Order them (the logging policy).
    const idx = this.idx;
    for (let q = 0; q < n; q++) idx[q] = q;
    if (o.loggingPolicy === 'affinity') {
      const sc = this.candScore;
      for (let q = 0; q < n; q++) sc[q] = aff[q] + o.policyNoise * rng.normal();
      for (let q = 1; q < n; q++) {
        const x = idx[q];
        let r = q - 1;
        while (r >= 0 && sc[idx[r]] < sc[x]) {
          idx[r + 1] = idx[r];
          r--;
        }
        idx[r + 1] = x;
      }
    }
    const req = this.requestSeq++;
    const user = s.user;
    const dev = s.device;
    for (let p = 0; p < n; p++) this.emit(t, user, cand[idx[p]], T_IMPRESSION, NaN, scene, p, req, dev);
    // The user scans the list.
    let cur = t + Math.round(rng.exp(3000));
    let lastClicked = -1;
    for (let p = 0; p < n; p++) {
      const item = cand[idx[p]];
      const a = aff[idx[p]];
      const pc = this.exam[p] * sigmoid(m.scale * a + m.bias + w.itemQuality[item]);
      if (rng.next() >= pc) continue;
      const click = cur + 1000 + Math.round(rng.exp(3000));
      this.later(click, user, item, T_CLICK, NaN, scene, p, req, dev);
      let dwell = Math.exp(Math.log(f.dwellMedian) + f.dwellAffinity * a + f.dwellSd * rng.normal());
      dwell = Math.round(Math.min(3600, Math.max(1, dwell)) * 10) / 10;
      const leave = click + Math.round(dwell * 1000);
      if (rng.next() < f.dwellProb) this.later(leave, user, item, T_DWELL, dwell, scene, p, req, dev);
      const lp = Math.log(w.itemPrice[item] / w.categoryMedianPrice[w.itemCategory[item]]);
      if (rng.next() < sigmoid(f.cartBias + f.cartAffinity * a - f.priceSensitivity * lp)) {
        const cart = click + Math.round((0.2 + 0.7 * rng.next()) * dwell * 1000);
        this.later(cart, user, item, T_CART, NaN, scene, p, req, dev);
        if (rng.next() < sigmoid(f.buyBias + f.buyAffinity * a - f.priceSensitivity * lp)) {
          const buy = cart + 30_000 + Math.round(rng.exp(300_000));
          this.later(buy, user, item, T_PURCHASE, w.itemPrice[item], scene, p, req, dev);
          if (rng.next() < f.ratingProb) {
            const stars = Math.min(5, Math.max(1, Math.round(3 + f.ratingAffinity * a + f.ratingSd * rng.normal())));
            this.later(buy + Math.round(rng.exp(2 * DAY)), user, item, T_RATING, stars, NO_SCENE, -1, -1, dev);
          }
        }
      }
      cur = leave;
      lastClicked = item;
    }
    // What next.
    if (--s.left <= 0) {
      this.busy[user] = cur;
      return false;
    }
    s.next = cur + 2000 + Math.round(rng.exp(o.requestGapSeconds * 1000));
    if (lastClicked >= 0 && rng.next() < 0.7) {
      s.scene = S_DETAIL;
      s.anchor = lastClicked;
    } else if (rng.next() < 0.3) {
      s.scene = S_SEARCH;
      if (rng.next() < 0.8) {
        const r = rng.next();
        let k = 0;
        while (k < s.tasteCum.length - 1 && r >= s.tasteCum[k]) k++;
        s.anchor = s.tasteCats[k];
      } else s.anchor = drawAlias(w.samplers.categories, rng.next());
    } else {
      s.scene = S_HOME;
      s.anchor = -1;
    }
    if (s.next >= w.end) {
      this.busy[user] = cur;
      return false;
    }
    return true;
  }

  /** Mean events per session, from `sessions` sessions at random times. */
  pilot(sessions: number): number {
    const w = this.w;
    const span = w.end - w.start;
    this.counted = 0;
    for (let k = 0; k < sessions; k++) {
      const t = w.start + Math.floor(this.rng.next() * span);
      const s = this.newSession(t);
      while (this.request(s, t)) void 0;
      this.busy[s.user] = 0;
    }
    return this.counted / sessions;
  }
}

/** Relative session rate at time t (growth and daily cycle); its maximum is (1+growth)(1+diurnal). */
function rateShape(o: SynthOptions, start: number, end: number, t: number): number {
  const hour = (t % DAY) / 3_600_000;
  return (1 + (o.growth * (t - start)) / (end - start)) * (1 + o.diurnal * Math.cos((2 * Math.PI * (hour - 20)) / 24));
}

/** Expected events per session, measured by a pilot simulation (deterministic in the seed). */
export function estimateEventsPerSession(world: SynthWorld, sessions = 2000): number {
  const sim = new Simulator(world, hash3(world.opts.seed, STREAM_PILOT, 0), true);
  return Math.max(1, sim.pilot(sessions));
}

/**
 * The events in timestamp order (ties in generation order), as reused column batches of up to
 * 65,536 rows. Memory: the world plus the sessions and lagged events in flight.
 */
export function* synthEventBatches(x?: SynthWorld | SynthInput): Generator<SynthEventBatch> {
  const w = asWorld(x);
  const o = w.opts;
  if (o.events <= 0) return;
  const perSession = estimateEventsPerSession(w, Math.round(Math.min(20_000, Math.max(2000, o.events / 500))));
  const sessions = o.events / perSession;
  // λ0 such that ∫ λ0·shape(t) dt over the span = sessions; the shape integrated per step.
  const span = w.end - w.start;
  const stepMs = Math.max(60_000, Math.ceil(span / 1_000_000));
  const steps = Math.ceil(span / stepMs);
  const cum = new Float64Array(steps + 1);
  for (let k = 0; k < steps; k++) {
    const t = w.start + k * stepMs;
    cum[k + 1] = cum[k] + rateShape(o, w.start, w.end, t + stepMs / 2) * Math.min(stepMs, w.end - t);
  }
  const integral = cum[steps];
  const lambda0 = sessions / integral; // per ms
  // Feedback: the rate is scaled by (expected events by now + c) / (events made by now + c),
  // clamped to [0.5, 2], so the total lands close to the target despite the noise.
  const maxMult = 2;
  const damp = Math.max(500, 0.02 * o.events);
  const expectedBy = (t: number): number => {
    const x = (t - w.start) / stepMs;
    const k = Math.min(steps - 1, Math.floor(x));
    return (o.events * (cum[k] + (cum[k + 1] - cum[k]) * (x - k))) / integral;
  };
  const sim = new Simulator(w, hash3(o.seed, STREAM_EVENTS, 0), false);
  const rng = sim.rng;
  const shapeMax = (1 + o.growth) * (1 + o.diurnal) * maxMult;
  const lambdaMax = lambda0 * shapeMax;
  let made = 0; // events emitted so far (set by the loop)
  const nextArrival = (t: number): number => {
    const inFlight = sim.pending.size + sim.sessions.size * perSession * 0.5;
    const mult = Math.min(maxMult, Math.max(0.5, (expectedBy(t) + damp) / (made + inFlight + damp)));
    for (;;) {
      t += rng.exp(1 / lambdaMax);
      if (t >= w.end) return Infinity;
      if (rng.next() * shapeMax < mult * rateShape(o, w.start, w.end, t)) return Math.floor(t);
    }
  };
  let arrival = nextArrival(w.start);
  const b = sim.batch;
  const pending = sim.pending;
  const heap = sim.sessions;
  let seq = 0;
  for (;;) {
    if (b.length >= BATCH) {
      b.firstSeq = seq;
      yield b;
      seq += b.length;
      b.length = 0;
    }
    const pT = pending.topTs();
    const top = heap.top();
    const sT = top ? top.next : Infinity;
    if (pT <= sT && pT <= arrival) {
      if (pT === Infinity) break;
      sim.emitPending();
    } else if (sT <= arrival) {
      const s = heap.pop();
      if (sim.request(s, sT)) heap.push(s);
    } else {
      const t = arrival;
      const s = sim.newSession(t);
      heap.push(s);
      made = seq + b.length;
      arrival = nextArrival(t);
    }
  }
  if (b.length > 0) {
    b.firstSeq = seq;
    yield b;
  }
}

/** The events as objects (convenient, slower than the batches). */
export function* synthEvents(x?: SynthWorld | SynthInput): Generator<Event> {
  for (const b of synthEventBatches(x)) {
    for (let j = 0; j < b.length; j++) yield batchEvent(b, j);
  }
}

/** Row j of a batch as an Event (context fields that are absent are left out). */
export function batchEvent(b: SynthEventBatch, j: number): Event {
  const e: Event = { id: `e${b.firstSeq + j}`, userId: userId(b.users[j]), itemId: itemId(b.items[j]), type: SYNTH_EVENT_TYPES[b.types[j]], timestamp: b.timestamps[j] };
  const v = b.values[j];
  if (v === v) e.value = v;
  const context: Event['context'] = {};
  if (b.scenes[j] !== NO_SCENE) context.scene = SYNTH_SCENES[b.scenes[j]];
  if (b.positions[j] >= 0) context.position = b.positions[j];
  if (b.requests[j] >= 0) context.requestId = `r${b.requests[j]}`;
  context.device = SYNTH_DEVICES[b.devices[j]];
  e.context = context;
  return e;
}

// ---- encoding -----------------------------------------------------------------------------------

export const USERS_CSV_COLUMNS = ['user_id', 'country', 'device', 'age_bucket'] as const;
export const ITEMS_CSV_COLUMNS = ['item_id', 'title', 'categories', 'tags', 'price', 'available', 'created_at', 'text', 'image_url'] as const;
export const EVENTS_CSV_COLUMNS = ['event_id', 'user_id', 'item_id', 'type', 'value', 'timestamp', 'scene', 'position', 'request_id', 'device'] as const;

export type SynthFormat = 'csv' | 'jsonl';

/** A CSV field: quoted when it holds ',', '"', '\r' or '\n' (quotes doubled). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function userLine(world: SynthWorld, u: number, format: SynthFormat): string {
  const [c, dv, a] = userAttrCodes(world.opts.seed, u);
  if (format === 'csv') return `u${u},${COUNTRIES[c]},${SYNTH_DEVICES[dv]},${AGE_BUCKETS[a]}\n`;
  return `{"user_id":"u${u}","country":"${COUNTRIES[c]}","device":"${SYNTH_DEVICES[dv]}","age_bucket":"${AGE_BUCKETS[a]}"}\n`;
}

export function itemLine(world: SynthWorld, i: number, format: SynthFormat): string {
  const it = synthItem(world, i);
  if (format === 'csv') {
    return [
      it.id,
      csvField(it.title!),
      csvField(it.categories!.join('|')),
      csvField(it.tags!.join('|')),
      it.price!.toFixed(2),
      it.available ? 'true' : 'false',
      String(it.createdAt),
      csvField(it.text!),
      csvField(it.imageUrl!),
    ].join(',') + '\n';
  }
  return (
    JSON.stringify({
      item_id: it.id,
      title: it.title,
      categories: it.categories,
      tags: it.tags,
      price: it.price,
      available: it.available,
      created_at: it.createdAt,
      text: it.text,
      image_url: it.imageUrl,
    }) + '\n'
  );
}

const enc = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const TYPE_BYTES = SYNTH_EVENT_TYPES.map(enc);
const SCENE_BYTES = SYNTH_SCENES.map(enc);
const DEVICE_BYTES = SYNTH_DEVICES.map(enc);

/** Bytes into big buffers, handed to `flush` when (nearly) full. */
class ByteWriter {
  buf: Buffer;
  pos = 0;
  constructor(
    readonly size: number,
    private readonly flush: (chunk: Buffer) => void,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }
  /** Makes room for `n` bytes. */
  room(n: number): void {
    if (this.pos + n > this.size) this.drain();
  }
  drain(): void {
    if (this.pos === 0) return;
    this.flush(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(this.size);
    this.pos = 0;
  }
  bytes(b: Uint8Array): void {
    const buf = this.buf;
    let p = this.pos;
    for (let k = 0; k < b.length; k++) buf[p++] = b[k];
    this.pos = p;
  }
  byte(c: number): void {
    this.buf[this.pos++] = c;
  }
  /** ASCII text only. */
  ascii(s: string): void {
    const buf = this.buf;
    let p = this.pos;
    for (let k = 0; k < s.length; k++) buf[p++] = s.charCodeAt(k);
    this.pos = p;
  }
  /** Any text (UTF-8); call room() first with 3 × length. */
  text(s: string): void {
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  /** A non-negative integer < 2^53. */
  uint(n: number): void {
    if (n >= 100_000_000) {
      const hi = Math.floor(n / 100_000_000);
      this.uint(hi);
      this.pad8(n - hi * 100_000_000);
      return;
    }
    let x = n | 0;
    const digits = x < 10 ? 1 : x < 100 ? 2 : x < 1000 ? 3 : x < 10_000 ? 4 : x < 100_000 ? 5 : x < 1_000_000 ? 6 : x < 10_000_000 ? 7 : 8;
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (x / 10) | 0;
      buf[--p] = 48 + x - q * 10;
      x = q;
    } while (x > 0);
  }
  /** 0 ≤ x < 10^8 as exactly 8 digits. */
  private pad8(x: number): void {
    const buf = this.buf;
    let p = this.pos + 8;
    this.pos = p;
    x |= 0;
    for (let k = 0; k < 8; k++) {
      const q = (x / 10) | 0;
      buf[--p] = 48 + x - q * 10;
      x = q;
    }
  }
  number(v: number): void {
    if (Number.isInteger(v) && v >= 0) this.uint(v);
    else this.ascii(String(v));
  }
}

const C_COMMA = 44;
const C_NL = 10;
const C_E = 101;
const C_U = 117;
const C_I = 105;
const C_R = 114;
const C_QUOTE = 34;

/** Encodes a batch's rows (CSV without header, or JSON Lines) through the writer. */
function encodeEvents(b: SynthEventBatch, out: ByteWriter, format: SynthFormat): void {
  if (format === 'csv') {
    for (let j = 0; j < b.length; j++) {
      out.room(200);
      out.byte(C_E);
      out.uint(b.firstSeq + j);
      out.byte(C_COMMA);
      out.byte(C_U);
      out.uint(b.users[j]);
      out.byte(C_COMMA);
      out.byte(C_I);
      out.uint(b.items[j]);
      out.byte(C_COMMA);
      out.bytes(TYPE_BYTES[b.types[j]]);
      out.byte(C_COMMA);
      const v = b.values[j];
      if (v === v) out.number(v);
      out.byte(C_COMMA);
      out.uint(b.timestamps[j]);
      out.byte(C_COMMA);
      const sc = b.scenes[j];
      if (sc !== NO_SCENE) out.bytes(SCENE_BYTES[sc]);
      out.byte(C_COMMA);
      const pos = b.positions[j];
      if (pos >= 0) out.uint(pos);
      out.byte(C_COMMA);
      const rq = b.requests[j];
      if (rq >= 0) {
        out.byte(C_R);
        out.uint(rq);
      }
      out.byte(C_COMMA);
      out.bytes(DEVICE_BYTES[b.devices[j]]);
      out.byte(C_NL);
    }
    return;
  }
  for (let j = 0; j < b.length; j++) {
    out.room(300);
    out.ascii('{"event_id":"e');
    out.uint(b.firstSeq + j);
    out.ascii('","user_id":"u');
    out.uint(b.users[j]);
    out.ascii('","item_id":"i');
    out.uint(b.items[j]);
    out.ascii('","type":"');
    out.bytes(TYPE_BYTES[b.types[j]]);
    out.byte(C_QUOTE);
    const v = b.values[j];
    if (v === v) {
      out.ascii(',"value":');
      out.number(v);
    }
    out.ascii(',"timestamp":');
    out.uint(b.timestamps[j]);
    const sc = b.scenes[j];
    if (sc !== NO_SCENE) {
      out.ascii(',"scene":"');
      out.bytes(SCENE_BYTES[sc]);
      out.byte(C_QUOTE);
    }
    const pos = b.positions[j];
    if (pos >= 0) {
      out.ascii(',"position":');
      out.uint(pos);
    }
    const rq = b.requests[j];
    if (rq >= 0) {
      out.ascii(',"request_id":"r');
      out.uint(rq);
      out.byte(C_QUOTE);
    }
    out.ascii(',"device":"');
    out.bytes(DEVICE_BYTES[b.devices[j]]);
    out.ascii('"}\n');
  }
}

/**
 * Encodes the whole data set in memory: { users, items, events } file texts (for tests and small
 * sets; `writeSynth` streams to files).
 */
export function synthToStrings(x: SynthWorld | SynthInput | undefined, format: SynthFormat = 'csv'): { users: string; items: string; events: string } {
  const w = asWorld(x);
  const chunks: Buffer[] = [];
  const out = new ByteWriter(1 << 20, (c) => chunks.push(Buffer.from(c)));
  const take = () => {
    out.drain();
    const s = Buffer.concat(chunks).toString('utf8');
    chunks.length = 0;
    return s;
  };
  if (format === 'csv') out.ascii(USERS_CSV_COLUMNS.join(',') + '\n');
  for (let u = 0; u < w.opts.users; u++) {
    const l = userLine(w, u, format);
    out.room(l.length);
    out.ascii(l);
  }
  const users = take();
  if (format === 'csv') out.ascii(ITEMS_CSV_COLUMNS.join(',') + '\n');
  for (let i = 0; i < w.opts.items; i++) {
    const l = itemLine(w, i, format);
    out.room(l.length * 3);
    out.text(l);
  }
  const items = take();
  if (format === 'csv') out.ascii(EVENTS_CSV_COLUMNS.join(',') + '\n');
  for (const b of synthEventBatches(w)) encodeEvents(b, out, format);
  const events = take();
  return { users, items, events };
}

// ---- writing files ------------------------------------------------------------------------------

export interface WriteSynthOptions {
  format?: SynthFormat;
  /** Rows done out of users + items + (estimated) events. */
  progress?: Progress;
  /** Write buffer size in bytes (default 4 MiB). */
  bufferSize?: number;
  /** Write the ground-truth files (default true). */
  truth?: boolean;
}

export interface WriteSynthReport {
  dir: string;
  format: SynthFormat;
  files: Record<'users' | 'items' | 'events', string> & { truth?: string };
  users: number;
  items: number;
  events: number;
  eventsByType: Record<string, number>;
  bytes: number;
  /** Seconds spent on the events file alone, and its rate. */
  eventSeconds: number;
  eventsPerSecond: number;
  seconds: number;
}

/** A write stream fed with backpressure: `write` resolves at once unless the stream is full. */
class StreamOut {
  readonly stream: WriteStream;
  bytes = 0;
  private waiting: Promise<void> | null = null;
  private error: Error | null = null;
  constructor(path: string, highWaterMark: number) {
    this.stream = createWriteStream(path, { highWaterMark });
    this.stream.on('error', (e) => (this.error = e));
  }
  /** Queues a chunk; returns a promise to await when the stream asks to wait. */
  write(chunk: Buffer): void {
    if (this.error) throw this.error;
    this.bytes += chunk.length;
    if (!this.stream.write(chunk) && !this.waiting) {
      this.waiting = new Promise((resolve, reject) => {
        const onDrain = () => {
          this.stream.off('error', onError);
          this.waiting = null;
          resolve();
        };
        const onError = (e: Error) => {
          this.stream.off('drain', onDrain);
          reject(e);
        };
        this.stream.once('drain', onDrain);
        this.stream.once('error', onError);
      });
    }
  }
  async ready(): Promise<void> {
    if (this.error) throw this.error;
    if (this.waiting) await this.waiting;
  }
  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.error) return reject(this.error);
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }
}

/**
 * Writes users, items and events (CSV or JSON Lines) and the ground truth into `dir` (created if
 * needed), streaming with backpressure. Deterministic: the same options give the same bytes.
 */
export async function writeSynth(dir: string, input: SynthInput | SynthWorld = {}, wopts: WriteSynthOptions = {}): Promise<WriteSynthReport> {
  const t0 = performance.now();
  const format = wopts.format ?? 'csv';
  if (format !== 'csv' && format !== 'jsonl') throw new Error(`synth: format must be csv or jsonl, got '${String(format)}'`);
  const size = wopts.bufferSize ?? 4 << 20;
  mkdirSync(dir, { recursive: true });
  const w = asWorld(input);
  const o = w.opts;
  const ext = format === 'csv' ? 'csv' : 'jsonl';
  const files = { users: join(dir, `users.${ext}`), items: join(dir, `items.${ext}`), events: join(dir, `events.${ext}`) };
  const progress = wopts.progress;
  const total = o.users + o.items + o.events;
  let done = 0;
  let bytes = 0;

  const writeRows = async (path: string, header: readonly string[], n: number, line: (k: number) => string) => {
    const s = new StreamOut(path, size);
    const out = new ByteWriter(size, (c) => s.write(c));
    if (format === 'csv') out.ascii(header.join(',') + '\n');
    for (let k = 0; k < n; k++) {
      const l = line(k);
      out.room(l.length * 3);
      out.text(l);
      if ((k & 4095) === 4095) {
        progress?.update(done + k + 1, total);
        await s.ready();
      }
    }
    out.drain();
    await s.close();
    done += n;
    bytes += s.bytes;
  };
  await writeRows(files.users, USERS_CSV_COLUMNS, o.users, (u) => userLine(w, u, format));
  await writeRows(files.items, ITEMS_CSV_COLUMNS, o.items, (i) => itemLine(w, i, format));

  const te = performance.now();
  const counts = new Float64Array(SYNTH_EVENT_TYPES.length);
  let events = 0;
  {
    const s = new StreamOut(files.events, size);
    const out = new ByteWriter(size, (c) => s.write(c));
    if (format === 'csv') out.ascii(EVENTS_CSV_COLUMNS.join(',') + '\n');
    for (const b of synthEventBatches(w)) {
      encodeEvents(b, out, format);
      for (let j = 0; j < b.length; j++) counts[b.types[j]]++;
      events += b.length;
      progress?.update(done + events, Math.max(total, done + events));
      await s.ready();
    }
    out.drain();
    await s.close();
    bytes += s.bytes;
  }
  const eventSeconds = (performance.now() - te) / 1000;
  done += events;
  progress?.update(done, done);

  const eventsByType: Record<string, number> = {};
  SYNTH_EVENT_TYPES.forEach((t, k) => (eventsByType[t] = counts[k]));
  const report: WriteSynthReport = {
    dir,
    format,
    files,
    users: o.users,
    items: o.items,
    events,
    eventsByType,
    bytes,
    eventSeconds,
    eventsPerSecond: eventSeconds > 0 ? events / eventSeconds : 0,
    seconds: 0,
  };
  if (wopts.truth ?? true) {
    const truth = synthTruth(w);
    const tf: Record<string, string> = {
      item_factors: 'item_factors.f32',
      item_quality: 'item_quality.f32',
    };
    writeFileSync(join(dir, tf.item_factors), f32le(w.itemVectors));
    writeFileSync(join(dir, tf.item_quality), f32le(w.itemQuality));
    if (o.users <= 2_000_000) {
      tf.user_factors = 'user_factors.f32';
      const uf = new Float32Array(o.users * o.latentDim);
      for (let u = 0; u < o.users; u++) synthUserVector(w, u, uf.subarray(u * o.latentDim, (u + 1) * o.latentDim));
      writeFileSync(join(dir, tf.user_factors), f32le(uf));
    }
    truth.files = { users: `users.${ext}`, items: `items.${ext}`, events: `events.${ext}`, ...tf };
    truth.counts = { users: o.users, items: o.items, events, ...eventsByType };
    const path = join(dir, 'truth.json');
    writeFileSync(path, JSON.stringify(truth, null, 2) + '\n');
    report.files.truth = path;
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

function f32le(a: Float32Array): Buffer {
  const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return b;
  const c = Buffer.from(b);
  c.swap32();
  return c;
}
